// Thumbnails for the gallery, made with sharp and kept between builds.
//
// A thumbnail's name is a hash of what it depends on (the image's absolute
// path, size and mtime, and the thumbnail settings), so a rebuild reuses it
// exactly when the image and settings are unchanged, and a changed image gets
// a new name (no stale browser cache either). Work is a fixed number of
// images in flight on sharp's thread pool, nothing else per image but one
// stat: the benchmark `gallery_thumbs` holds this to plain sharp.
import { createHash } from 'node:crypto';
import { copyFile, link, mkdir, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import sharp, { type Sharp } from 'sharp';

export interface ThumbnailSettings {
  /** Longest side in pixels (default 320: 2× the cards' CSS size). */
  size: number;
  /** JPEG quality (default 80). */
  quality: number;
}

export const DEFAULT_THUMBNAILS: ThumbnailSettings = { size: 320, quality: 80 };

/** Images in flight: one per libuv thread sharp may use, at least 4 (sharp's default pool). */
export function defaultThumbnailConcurrency(): number {
  const pool = Number(process.env['UV_THREADPOOL_SIZE'] ?? 4);
  return Math.max(4, Number.isFinite(pool) ? pool : 4, availableParallelism());
}

export interface ThumbnailOptions extends Partial<ThumbnailSettings> {
  /** Folder the thumbnails are written to (created). */
  dir: string;
  /** A folder of an earlier build's thumbnails to take unchanged ones from (hard link, else copy). */
  reuseFrom?: string | null;
  /** Images in flight (default defaultThumbnailConcurrency()). */
  concurrency?: number;
  /** Make every thumbnail again even where the name exists in reuseFrom. */
  force?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface Thumbnail {
  /** File name in `dir`, or null when the image could not be read. */
  file: string | null;
  /** Why there is no thumbnail. */
  error: string | null;
  /** Taken from reuseFrom rather than made. */
  reused: boolean;
}

/** The pipeline both the gallery and its benchmark peer run: orient, fit inside size², flatten alpha, JPEG. */
export function thumbnailPipeline(source: string, s: ThumbnailSettings): Sharp {
  return sharp(source)
    .rotate()
    .resize(s.size, s.size, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: s.quality });
}

function nameOf(source: string, size: number, mtimeMs: number, s: ThumbnailSettings): string {
  return `${createHash('sha1').update(`${source}\0${size}\0${mtimeMs}\0${s.size}\0${s.quality}\0v1`).digest('hex').slice(0, 24)}.jpg`;
}

async function reuse(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code === 'EEXIST') return true;
    // Another file system, or links not allowed: copy.
    return copyFile(from, to).then(
      () => true,
      () => false,
    );
  }
}

/** Makes (or reuses) one thumbnail per source, in order; sources are absolute paths. */
export async function makeThumbnails(sources: readonly string[], options: ThumbnailOptions): Promise<Thumbnail[]> {
  const s: ThumbnailSettings = { size: options.size ?? DEFAULT_THUMBNAILS.size, quality: options.quality ?? DEFAULT_THUMBNAILS.quality };
  if (!(Number.isInteger(s.size) && s.size >= 16 && s.size <= 4096)) throw new RangeError(`thumbnail size must be an integer in [16, 4096], got ${s.size}`);
  if (!(Number.isInteger(s.quality) && s.quality >= 1 && s.quality <= 100)) throw new RangeError(`thumbnail quality must be an integer in [1, 100], got ${s.quality}`);
  const concurrency = options.concurrency ?? defaultThumbnailConcurrency();
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new RangeError(`thumbnail concurrency must be a positive integer, got ${concurrency}`);
  await mkdir(options.dir, { recursive: true });
  const out: Thumbnail[] = Array.from({ length: sources.length }, () => ({ file: null, error: null, reused: false }));
  let next = 0;
  let done = 0;
  const one = async (i: number): Promise<void> => {
    const source = sources[i]!;
    const t = out[i]!;
    let st;
    try {
      st = await stat(source);
    } catch (e) {
      t.error = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `cannot read: ${(e as Error).message}`;
      return;
    }
    if (!st.isFile()) {
      t.error = 'not a file';
      return;
    }
    const name = nameOf(source, st.size, st.mtimeMs, s);
    const to = join(options.dir, name);
    if (!options.force && options.reuseFrom && (await reuse(join(options.reuseFrom, name), to))) {
      t.file = name;
      t.reused = true;
      return;
    }
    try {
      await thumbnailPipeline(source, s).toFile(to);
      t.file = name;
    } catch (e) {
      t.error = `not readable as an image: ${(e as Error).message.split('\n')[0]}`;
    }
  };
  const worker = async (): Promise<void> => {
    while (next < sources.length) {
      const i = next++;
      await one(i);
      options.onProgress?.(++done, sources.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, sources.length)) }, worker));
  return out;
}
