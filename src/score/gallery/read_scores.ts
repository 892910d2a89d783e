// Reading result files of `cskd score` back for the gallery: the CSV (header
// path, mean, std, p_<bin>…, error) or JSON Lines that results.ts writes.
// Every problem is an error naming file:line, since a gallery built from a
// half-read file would look right and be wrong.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';

import { parseCsv } from '../../data/csv.js';

export interface ScoreRecord {
  path: string;
  mean: number | null;
  std: number | null;
  distribution: number[] | null;
  error: string | null;
  line: number;
}

export interface ScoreFile {
  file: string;
  /** Bin scores from the CSV header; null for JSON Lines (they do not record them). */
  bins: number[] | null;
  /** Number of score bins. */
  k: number;
  records: ScoreRecord[];
}

export class ScoreFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    what: string,
  ) {
    super(`${file}${line > 0 ? `:${line}` : ''}: ${what}`);
  }
}

function finite(file: string, line: number, what: string, v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw new ScoreFileError(file, line, `${what}: '${String(v)}' is not a number`);
  return n;
}

function checkRecord(file: string, r: ScoreRecord, k: number): void {
  if (r.path === '') throw new ScoreFileError(file, r.line, 'empty path');
  if (r.error !== null) return;
  if (r.mean === null || r.std === null || r.distribution === null) throw new ScoreFileError(file, r.line, 'a row with neither a score nor an error');
  if (r.distribution.length !== k) throw new ScoreFileError(file, r.line, `${r.distribution.length} distribution values, expected ${k}`);
  if (r.distribution.some((p) => p < 0)) throw new ScoreFileError(file, r.line, 'a negative probability');
  const sum = r.distribution.reduce((a, b) => a + b, 0);
  // Seven significant digits per bin in the file: the sum is 1 to about 1e-6 × K.
  if (Math.abs(sum - 1) > 1e-3) throw new ScoreFileError(file, r.line, `the distribution sums to ${sum}, not 1`);
}

function readCsv(file: string, text: string): ScoreFile {
  const records = parseCsv(text);
  const head = records[0];
  if (!head) throw new ScoreFileError(file, 0, 'empty file (expected the header path,mean,std,p_…,error)');
  const h = head.fields;
  const k = h.length - 4;
  const binNames = h.slice(3, 3 + Math.max(0, k));
  if (h[0] !== 'path' || h[1] !== 'mean' || h[2] !== 'std' || h[h.length - 1] !== 'error' || k < 2 || binNames.some((b) => !/^p_-?[\d.]+$/.test(b))) {
    throw new ScoreFileError(file, head.line, `the header is '${h.join(',')}', expected path,mean,std,p_<bin>…,error as cskd score writes it`);
  }
  const bins = binNames.map((b) => Number(b.slice(2)));
  const out: ScoreRecord[] = [];
  for (const rec of records.slice(1)) {
    const f = rec.fields;
    if (f.length === 1 && f[0] === '') continue;
    if (f.length !== h.length) throw new ScoreFileError(file, rec.line, `${f.length} fields, expected ${h.length}`);
    const error = f[f.length - 1] || null;
    const empty = f.slice(1, 3 + k).every((x) => x === '');
    const r: ScoreRecord =
      error !== null && empty
        ? { path: f[0]!, mean: null, std: null, distribution: null, error, line: rec.line }
        : {
            path: f[0]!,
            mean: finite(file, rec.line, 'mean', f[1]),
            std: finite(file, rec.line, 'std', f[2]),
            distribution: f.slice(3, 3 + k).map((x, i) => finite(file, rec.line, h[3 + i]!, x)),
            error,
            line: rec.line,
          };
    checkRecord(file, r, k);
    out.push(r);
  }
  return { file, bins, k, records: out };
}

function readJsonl(file: string, text: string): ScoreFile {
  const out: ScoreRecord[] = [];
  let k = -1;
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim();
    if (t === '') return;
    let o: unknown;
    try {
      o = JSON.parse(t);
    } catch (e) {
      throw new ScoreFileError(file, line, `not JSON (${(e as Error).message})`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new ScoreFileError(file, line, 'not a JSON object');
    const v = o as Record<string, unknown>;
    if (typeof v['path'] !== 'string') throw new ScoreFileError(file, line, 'no "path" string');
    const error = typeof v['error'] === 'string' && v['error'] !== '' ? v['error'] : null;
    const dist = v['distribution'];
    if (error !== null && (dist === null || dist === undefined)) {
      out.push({ path: v['path'], mean: null, std: null, distribution: null, error, line });
      return;
    }
    if (!Array.isArray(dist)) throw new ScoreFileError(file, line, 'no "distribution" array (and no "error")');
    const distribution = dist.map((p, j) => finite(file, line, `distribution[${j}]`, p));
    if (k === -1) k = distribution.length;
    const r: ScoreRecord = { path: v['path'], mean: finite(file, line, 'mean', v['mean']), std: finite(file, line, 'std', v['std']), distribution, error, line };
    checkRecord(file, r, k);
    out.push(r);
  });
  if (k === -1) k = 0;
  return { file, bins: null, k, records: out };
}

/** Reads one score file; throws ScoreFileError naming file:line on anything it cannot trust. */
export async function readScoreFile(file: string): Promise<ScoreFile> {
  const ext = extname(file).toLowerCase();
  if (ext !== '.csv' && ext !== '.jsonl' && ext !== '.ndjson') throw new ScoreFileError(file, 0, 'expected a .csv or .jsonl result file of cskd score');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ScoreFileError(file, 0, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (text.length > 0 && !text.endsWith('\n')) {
    const line = text.split('\n').length;
    throw new ScoreFileError(file, line, 'the last line has no newline: a torn row (is cskd score still writing this file?)');
  }
  const parsed = ext === '.csv' ? readCsv(file, text) : readJsonl(file, text);
  const seen = new Map<string, number>();
  for (const r of parsed.records) {
    const first = seen.get(r.path);
    if (first !== undefined) throw new ScoreFileError(file, r.line, `'${r.path}' again (first on line ${first})`);
    seen.set(r.path, r.line);
  }
  return parsed;
}
