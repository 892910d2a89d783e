// `cskd gallery`: score files (and optionally a labeled split) → a static
// site that opens from disk or any static server. Layout of the site:
//
//   index.html, assets/app.js, assets/style.css   the page (static_files.ts)
//   data/meta.js                                  models, bins, pairs, chunk list
//   data/rows-NNNN.js                             rows, chunk by chunk
//   data/live.js                                  false here; the live server answers true
//   thumbs/<hash>.jpg                             thumbnails (thumbnails.ts)
//   gallery.json                                  what was built from what (marks the folder as a gallery)
//
// Data ship as classic scripts that call a global, not JSON: Chromium refuses
// fetch() and ES modules on file:// pages but runs <script src>. The site is
// built in a sibling temp folder and renamed into place, so a failed build
// leaves the previous gallery; unchanged thumbnails are linked over from it.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';

import { findSplit, loadDataset } from '../../data/datasets.js';
import type { LabeledSample } from '../../data/labels.js';
import { srcc } from '../../eval/metrics.js';
import { type ScoreFile, ScoreFileError, readScoreFile } from './read_scores.js';
import { GALLERY_FILES } from './static_files.js';
import { DEFAULT_THUMBNAILS, type ThumbnailSettings, makeThumbnails } from './thumbnails.js';

export const GALLERY_MARKER = 'gallery.json';

export interface GalleryOptions {
  /** Result files of `cskd score` (.csv or .jsonl), one per model. */
  scores: readonly string[];
  /** Folder to write the site to (replaced if it holds an earlier gallery). */
  out: string;
  /** Folder relative paths in the score files resolve against (default: the working directory). */
  images?: string;
  /** Model names (default: the score files' names without extension). */
  names?: readonly string[];
  /** A dataset config (dataset.json) whose split gives the true distributions. */
  labels?: string | null;
  /** The split of `labels` (default 'test'). */
  split?: string;
  /** Bin scores for JSON Lines files when neither a CSV nor labels give them (default 1…K). */
  bins?: readonly number[];
  title?: string;
  thumbnails?: Partial<ThumbnailSettings> & { concurrency?: number; force?: boolean };
  /** Rows per data chunk (default 5000). */
  chunkRows?: number;
  onProgress?: (p: { stage: 'thumbnails'; done: number; total: number }) => void;
}

export interface GalleryPair {
  a: number;
  b: number;
  /** Images both models scored without error. */
  shared: number;
  /** Spearman correlation of their means over those images (null under 2). */
  srcc: number | null;
}

export interface GallerySummary {
  out: string;
  images: number;
  models: { name: string; file: string; rows: number; errors: number }[];
  labeled: { split: string; matched: number; unmatched: number } | null;
  pairs: GalleryPair[];
  thumbnails: { made: number; reused: number; failed: number };
  chunks: number;
}

type ModelScore = [mean: number, std: number, distribution: number[]] | { e: string } | null;

/** One row of a data chunk, as the page reads it. */
interface PageRow {
  /** Path as the score file wrote it. */
  p: string;
  /** Path under the images root (POSIX), for the live server's originals; null outside it. */
  o: string | null;
  /** Thumbnail file in thumbs/, or null. */
  t: string | null;
  /** Why there is no thumbnail. */
  te?: string;
  /** True mean and distribution, with labels. */
  l?: [mean: number, distribution: number[]];
  /** One entry per model: its score, its error, or null when the file has no row for this image. */
  s: ModelScore[];
}

const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) < 1e-9);
}

function splitKey(s: string): string {
  const b = basename(s);
  return extname(b) ? b.slice(0, -extname(b).length) : b;
}

async function prepareOut(out: string): Promise<boolean> {
  const st = await stat(out).catch(() => null);
  if (!st) return false;
  if (!st.isDirectory()) throw new Error(`--out ${out} exists and is not a folder`);
  const entries = await readdir(out);
  if (entries.length > 0 && !entries.includes(GALLERY_MARKER)) {
    throw new Error(`--out ${out} is a folder with other files in it (no ${GALLERY_MARKER}); refusing to replace it: give a new or empty folder`);
  }
  return entries.length > 0;
}

/** `call(args…, value);` as a classic script. '<' is escaped so a path holding '</script>' stays data. */
function classicScript(call: string, value: unknown, ...before: number[]): string {
  return `${call}(${[...before.map(String), JSON.stringify(value).replace(/</g, '\\u003c')].join(', ')});\n`;
}

/** Builds the gallery site; returns what went into it. */
export async function buildGallery(options: GalleryOptions): Promise<GallerySummary> {
  if (options.scores.length === 0) throw new Error('gallery: give at least one score file (.csv or .jsonl)');
  const out = resolve(options.out);
  const imagesRoot = resolve(options.images ?? '.');
  const chunkRows = options.chunkRows ?? 5000;
  if (!(Number.isInteger(chunkRows) && chunkRows >= 1)) throw new RangeError(`chunkRows must be a positive integer, got ${chunkRows}`);
  if (options.names && options.names.length !== options.scores.length) {
    throw new Error(`gallery: ${options.names.length} names for ${options.scores.length} score files`);
  }
  if (options.images !== undefined && !(await stat(imagesRoot).then((s) => s.isDirectory(), () => false))) {
    throw new Error(`--images ${imagesRoot} is not a folder`);
  }

  const files: ScoreFile[] = [];
  for (const f of options.scores) files.push(await readScoreFile(resolve(f)));
  for (const f of files) if (f.records.length === 0) throw new ScoreFileError(f.file, 0, 'no rows');

  // Every file must score on the same bins: their distributions are drawn on one axis.
  const withK = files.filter((f) => f.k > 0);
  for (const f of withK) {
    if (f.k !== withK[0]!.k) throw new Error(`mismatched score files: ${withK[0]!.file} has ${withK[0]!.k} score bins, ${f.file} has ${f.k}`);
  }
  const k = withK[0]?.k ?? 0;
  const csvBins = files.filter((f) => f.bins !== null);
  for (const f of csvBins) {
    if (!sameNumbers(f.bins!, csvBins[0]!.bins!)) {
      throw new Error(`mismatched score files: ${csvBins[0]!.file} has bins ${csvBins[0]!.bins!.join(',')}, ${f.file} has ${f.bins!.join(',')}`);
    }
  }

  let labelSamples: LabeledSample[] | null = null;
  let labelBins: readonly number[] | null = null;
  const split = options.split ?? 'test';
  if (options.labels) {
    const ds = await loadDataset(options.labels);
    const s = findSplit(ds, split, 'gallery labels');
    labelSamples = s.samples;
    labelBins = s.bins;
  }
  const bins = csvBins[0]?.bins ?? (labelBins ? [...labelBins] : options.bins ? [...options.bins] : Array.from({ length: k }, (_, i) => i + 1));
  if (k > 0 && bins.length !== k) throw new Error(`gallery: the score files have ${k} bins, the bins given are ${bins.join(',')}`);
  if (labelBins && !sameNumbers(labelBins, bins)) {
    throw new Error(`mismatched labels: split '${split}' of ${resolve(options.labels!)} has bins ${labelBins.join(',')}, the score files ${bins.join(',')}`);
  }

  // Rows: the union of the files' paths, in first-seen order; absolute path is the identity.
  const index = new Map<string, number>();
  const rows: PageRow[] = [];
  const sources: string[] = [];
  files.forEach((f, m) => {
    for (const r of f.records) {
      const abs = isAbsolute(r.path) ? r.path : resolve(imagesRoot, r.path);
      let i = index.get(abs);
      if (i === undefined) {
        i = rows.length;
        index.set(abs, i);
        const rel = relative(imagesRoot, abs);
        const inside = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
        rows.push({ p: r.path, o: inside ? rel.split(sep).join('/') : null, t: null, s: files.map(() => null) });
        sources.push(abs);
      }
      rows[i]!.s[m] = r.error !== null || r.distribution === null ? { e: r.error ?? 'no score' } : [r4(r.mean!), r4(r.std!), r.distribution.map(r4)];
    }
  });

  const pairs: GalleryPair[] = [];
  for (let a = 0; a < files.length; a++) {
    for (let b = a + 1; b < files.length; b++) {
      const xa: number[] = [];
      const xb: number[] = [];
      for (const row of rows) {
        const sa = row.s[a];
        const sb = row.s[b];
        if (Array.isArray(sa) && Array.isArray(sb)) {
          xa.push(sa[0]);
          xb.push(sb[0]);
        }
      }
      if (xa.length === 0) throw new Error(`mismatched score files: ${files[a]!.file} and ${files[b]!.file} have no scored image in common`);
      pairs.push({ a, b, shared: xa.length, srcc: xa.length >= 2 ? r4(srcc(xa, xb)) : null });
    }
  }

  let labeled: GallerySummary['labeled'] = null;
  if (labelSamples) {
    const byKey = new Map<string, LabeledSample | null>();
    for (const s of labelSamples) {
      const key = splitKey(s.id);
      byKey.set(key, byKey.has(key) ? null : s); // null: ambiguous, match by path only
    }
    let matched = 0;
    const byPath = new Map(labelSamples.map((s) => [resolve(s.path), s]));
    rows.forEach((row, i) => {
      const s = byPath.get(sources[i]!) ?? byKey.get(splitKey(row.p)) ?? null;
      if (!s) return;
      row.l = [r4(s.mean), Array.from(s.distribution, r4)];
      matched++;
    });
    if (matched === 0) throw new Error(`labels: no image of split '${split}' of ${resolve(options.labels!)} is in the score files (matched by path under --images ${imagesRoot}, then by file name)`);
    labeled = { split, matched, unmatched: rows.length - matched };
  }

  // Build beside the target, then swap it in.
  const hadGallery = await prepareOut(out);
  await mkdir(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    await mkdir(join(tmp, 'data'), { recursive: true });
    await mkdir(join(tmp, 'assets'), { recursive: true });
    const t = options.thumbnails ?? {};
    const thumbs = await makeThumbnails(sources, {
      dir: join(tmp, 'thumbs'),
      reuseFrom: hadGallery && existsSync(join(out, 'thumbs')) ? join(out, 'thumbs') : null,
      size: t.size ?? DEFAULT_THUMBNAILS.size,
      quality: t.quality ?? DEFAULT_THUMBNAILS.quality,
      ...(t.concurrency !== undefined ? { concurrency: t.concurrency } : {}),
      ...(t.force !== undefined ? { force: t.force } : {}),
      onProgress: (done, total) => options.onProgress?.({ stage: 'thumbnails', done, total }),
    });
    thumbs.forEach((th, i) => {
      rows[i]!.t = th.file;
      if (th.error) rows[i]!.te = th.error;
    });

    const chunks: string[] = [];
    for (let c = 0; c * chunkRows < rows.length; c++) {
      const name = `data/rows-${String(c).padStart(4, '0')}.js`;
      await writeFile(join(tmp, name), classicScript('CSKD_GALLERY.chunk', rows.slice(c * chunkRows, (c + 1) * chunkRows), c));
      chunks.push(name);
    }
    const models = files.map((f, m) => ({
      name: options.names?.[m] ?? basename(f.file, extname(f.file)),
      file: f.file,
      rows: f.records.length,
      errors: f.records.filter((r) => r.error !== null).length,
    }));
    const meta = {
      version: 1,
      title: options.title ?? (files.length === 1 ? `Scores: ${models[0]!.name}` : `Scores: ${models.map((m) => m.name).join(' vs ')}`),
      bins,
      models: models.map((m) => ({ name: m.name, rows: m.rows, errors: m.errors })),
      labeled: labeled ? { split, matched: labeled.matched } : null,
      pairs,
      rows: rows.length,
      chunkRows,
      chunks,
      thumbSize: t.size ?? DEFAULT_THUMBNAILS.size,
    };
    await writeFile(join(tmp, 'data', 'meta.js'), classicScript('CSKD_GALLERY.meta', meta));
    await writeFile(join(tmp, 'data', 'live.js'), 'CSKD_GALLERY.live = false;\n');
    for (const [name, text] of Object.entries(GALLERY_FILES)) await writeFile(join(tmp, name), text);
    const made = thumbs.filter((x) => x.file && !x.reused).length;
    const reused = thumbs.filter((x) => x.reused).length;
    const summary: GallerySummary = {
      out,
      images: rows.length,
      models: models.map((m) => ({ ...m })),
      labeled,
      pairs,
      thumbnails: { made, reused, failed: thumbs.length - made - reused },
      chunks: chunks.length,
    };
    await writeFile(join(tmp, GALLERY_MARKER), `${JSON.stringify({ ...summary, out: undefined, imagesRoot, labels: options.labels ? resolve(options.labels) : null, built: new Date().toISOString() }, null, 2)}\n`);

    if (hadGallery) {
      const old = `${out}.old-${process.pid}-${randomBytes(3).toString('hex')}`;
      await rename(out, old);
      await rename(tmp, out);
      await rm(old, { recursive: true, force: true });
    } else {
      await rm(out, { recursive: true, force: true }); // an empty folder
      await rename(tmp, out);
    }
    return summary;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** The gallery's marker, for the live server: null when `dir` is not a built gallery. */
export async function readGalleryMarker(dir: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await readFile(join(dir, GALLERY_MARKER), 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}
