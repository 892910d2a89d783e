// Result files of `cskd score`: CSV (header: path, mean, std, one column per
// score bin, error) or JSON Lines, chosen by the file's extension, appended
// as images finish and resumable.
//
// Resume: the existing file is scanned record by record (CSV quoting aware,
// so a quoted newline in a path does not split a record). A record counts
// only when its terminating newline is there; a torn tail left by a kill is
// cut off (the file is truncated to the last complete record), so a rerun
// neither duplicates nor tears rows. A complete record that does not parse,
// or a CSV header written for other score bins, is an error rather than
// something to overwrite: the file is the user's data.
//
// Rows are appended whole, buffered for at most a second (or 256 KiB), so a
// kill loses at most the last second of work (the next run redoes it) and
// leaves at most one torn row (the next run cuts it off).
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat, truncate, type FileHandle } from 'node:fs/promises';
import { extname } from 'node:path';

import { parseCsv } from '../data/csv.js';
import type { Score } from './scorer.js';

export type ResultFormat = 'csv' | 'jsonl';

export interface ResultRow {
  path: string;
  score: Score | null;
  /** 'kind: detail' for a bad image, else null. */
  error: string | null;
}

export function resultFormatOf(path: string): ResultFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  throw new RangeError(`--out ${path}: the extension picks the format; use .csv or .jsonl`);
}

/** Seven significant digits: more than float32 probabilities carry, short enough to read. */
function num(v: number): string {
  return String(Number(v.toPrecision(7)));
}

/** Column name of a bin: p_<score of the bin>. */
export function csvHeader(bins: readonly number[]): string[] {
  return ['path', 'mean', 'std', ...bins.map((b) => `p_${b}`), 'error'];
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

export function formatRow(format: ResultFormat, row: ResultRow, bins: readonly number[]): string {
  const s = row.score;
  if (format === 'jsonl') {
    return `${JSON.stringify({
      path: row.path,
      mean: s ? Number(num(s.mean)) : null,
      std: s ? Number(num(s.std)) : null,
      distribution: s ? s.distribution.map((p) => Number(num(p))) : null,
      error: row.error,
    })}\n`;
  }
  const values = s ? [num(s.mean), num(s.std), ...s.distribution.map(num)] : Array<string>(2 + bins.length).fill('');
  return `${[csvField(row.path), ...values, csvField(row.error ?? '')].join(',')}\n`;
}

export interface ResumeState {
  /** Paths with a complete row (error rows too, unless retried). */
  finished: Set<string>;
  /** Complete rows found. */
  rows: number;
  /** Of those, rows with an error. */
  errorRows: number;
  /** Error rows dropped so their images are scored again (retryErrors). */
  retried: number;
  /** Bytes of a torn last record cut off. */
  truncatedBytes: number;
}

interface ResumeOptions {
  /** Drop error rows from the file and score those images again. */
  retryErrors?: boolean;
}

/** Scans an existing result file; truncates a torn tail; with retryErrors, rewrites it without error rows. */
async function scanExisting(path: string, format: ResultFormat, bins: readonly number[], options: ResumeOptions): Promise<ResumeState> {
  const state: ResumeState = { finished: new Set(), rows: 0, errorRows: 0, retried: 0, truncatedBytes: 0 };
  const size = (await stat(path)).size;
  if (size === 0) return state;
  const header = csvHeader(bins);
  const keepPath = `${path}.retry-${process.pid}.tmp`;
  const keep: FileHandle | null = options.retryErrors ? await open(keepPath, 'w') : null;
  let record: Buffer[] = [];
  let recordStart = 0;
  let offset = 0;
  let line = 1;
  let inQuotes = false;
  let sawHeader = format === 'jsonl';

  const bad = (what: string): never => {
    throw new Error(`${path}:${line}: ${what}; this is not a result file of this model that cskd score can resume (move it away, or fix the line)`);
  };
  const handle = async (bytes: Buffer): Promise<void> => {
    const text = bytes.toString('utf8').replace(/\r?\n$/, '');
    if (text === '' && sawHeader) return;
    let rowPath: string;
    let error: string | null;
    if (!sawHeader) {
      const fields = parseCsv(text)[0]?.fields ?? [];
      if (fields.join(',') !== header.join(',')) {
        bad(`the header is '${fields.join(',')}', expected '${header.join(',')}' (written for other score bins?)`);
      }
      sawHeader = true;
      await keep?.write(bytes);
      return;
    }
    if (format === 'csv') {
      const fields = parseCsv(text)[0]?.fields ?? [];
      if (fields.length !== header.length) bad(`a row of ${fields.length} fields, expected ${header.length}`);
      rowPath = fields[0]!;
      error = fields[fields.length - 1] || null;
    } else {
      let obj: unknown;
      try {
        obj = JSON.parse(text);
      } catch {
        obj = null;
      }
      const o = obj as { path?: unknown; error?: unknown } | null;
      if (typeof o !== 'object' || o === null || typeof o.path !== 'string') return bad('not a JSON object with a "path"');
      rowPath = o.path;
      error = typeof o.error === 'string' ? o.error : null;
    }
    state.rows++;
    if (error !== null) state.errorRows++;
    if (error !== null && keep) {
      state.retried++;
      return;
    }
    state.finished.add(rowPath);
    await keep?.write(bytes);
  };

  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      let from = 0;
      for (let i = 0; i < chunk.length; i++) {
        const c = chunk[i];
        if (c === 0x22 && format === 'csv') inQuotes = !inQuotes;
        else if (c === 0x0a && !inQuotes) {
          record.push(chunk.subarray(from, i + 1));
          const bytes = Buffer.concat(record);
          record = [];
          from = i + 1;
          await handle(bytes);
          recordStart = offset + i + 1;
          line++;
        } else if (c === 0x0a) line++;
      }
      if (from < chunk.length) record.push(Buffer.from(chunk.subarray(from)));
      offset += chunk.length;
    }
    if (keep) {
      await keep.close();
      if (state.retried > 0) await rename(keepPath, path);
      else await rm(keepPath, { force: true });
    }
  } catch (e) {
    await keep?.close().catch(() => undefined);
    if (keep) await rm(keepPath, { force: true });
    throw e;
  }
  if (recordStart < size) {
    state.truncatedBytes = size - recordStart;
    if (state.retried === 0) await truncate(path, recordStart);
    // (With retried rows the file was just rewritten from complete records only.)
  }
  return state;
}

export interface ResultWriterOptions extends ResumeOptions {
  /** Longest time a finished row waits in memory before it is written (ms, default 1000). */
  flushMs?: number;
}

export class ResultWriter {
  readonly path: string;
  readonly format: ResultFormat;
  readonly bins: readonly number[];
  /** What the file held before this run. */
  readonly resume: ResumeState;
  readonly #fh: FileHandle;
  readonly #flushMs: number;
  #pending = '';
  #lastFlush = Date.now();

  private constructor(path: string, format: ResultFormat, bins: readonly number[], fh: FileHandle, resume: ResumeState, flushMs: number) {
    this.path = path;
    this.format = format;
    this.bins = bins;
    this.#fh = fh;
    this.resume = resume;
    this.#flushMs = flushMs;
  }

  /** Opens (or creates) a result file for appending, after reading what an earlier run finished. */
  static async open(path: string, bins: readonly number[], options: ResultWriterOptions = {}): Promise<ResultWriter> {
    const format = resultFormatOf(path);
    const exists = await stat(path).then(
      (s) => {
        if (!s.isFile()) throw new Error(`--out ${path} is not a regular file`);
        return true;
      },
      () => false,
    );
    const resume = exists ? await scanExisting(path, format, bins, options) : { finished: new Set<string>(), rows: 0, errorRows: 0, retried: 0, truncatedBytes: 0 };
    const fh = await open(path, 'a');
    const writer = new ResultWriter(path, format, bins, fh, resume, options.flushMs ?? 1000);
    if (format === 'csv' && (await fh.stat()).size === 0) {
      writer.#pending = `${csvHeader(bins).join(',')}\n`;
      await writer.flush();
    }
    return writer;
  }

  async write(row: ResultRow): Promise<void> {
    this.#pending += formatRow(this.format, row, this.bins);
    if (this.#pending.length >= 1 << 18 || Date.now() - this.#lastFlush >= this.#flushMs) await this.flush();
  }

  async flush(): Promise<void> {
    this.#lastFlush = Date.now();
    if (this.#pending === '') return;
    const text = this.#pending;
    this.#pending = '';
    await this.#fh.appendFile(text);
  }

  async close(): Promise<void> {
    await this.flush();
    await this.#fh.datasync();
    await this.#fh.close();
  }
}
