// What `cskd score` scores: command-line arguments expanded to image paths,
// and the deterministic shard of them one machine takes.
//
//   path        scored as given (a missing or broken file becomes an error row)
//   folder      walked recursively, sorted, hidden entries skipped
//   glob        *, ? and ** (via src/data's globToRegExp), when the argument is not an existing path
//   @list       one path per line, relative to the list's folder; blank lines and # comments skipped
//
// In folders and globs a file is taken when its first bytes are those of an
// image format sharp reads, or when its name has an image extension (so that
// a broken photo.jpg is reported, not silently left out). A README or a .json
// file is skipped; a JPEG saved without an extension is found.
import { createHash } from 'node:crypto';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';

import { IMAGE_EXTENSIONS, globToRegExp } from '../data/pool.js';

/** The image format the first bytes announce, or null. Formats sharp's prebuilt libvips reads. */
export function sniffImageFormat(head: Uint8Array): string | null {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const ascii = (start: number, end: number): string => b.subarray(start, end).toString('latin1');
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (b.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'gif';
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (b.length >= 4 && (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*')) return 'tiff';
  if (b.length >= 12 && ascii(4, 8) === 'ftyp') {
    const brand = ascii(8, 12);
    if (brand === 'avif' || brand === 'avis') return 'avif';
    if (['heic', 'heix', 'hevc', 'hevx', 'mif1', 'msf1'].includes(brand)) return 'heif';
  }
  if (b.length >= 2 && b[0] === 0xff && b[1] === 0x0a) return 'jxl';
  if (b.length >= 12 && b.readUInt32BE(0) === 12 && ascii(4, 8) === 'JXL ') return 'jxl';
  return null;
}

function hasImageExtension(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

async function startsLikeImage(path: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'r');
    const head = Buffer.alloc(32);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return sniffImageFormat(head.subarray(0, bytesRead)) !== null;
  } catch {
    return false;
  } finally {
    await fh?.close();
  }
}

async function isImageCandidate(path: string): Promise<boolean> {
  return hasImageExtension(path) || (await startsLikeImage(path));
}

/** Every file under `dir` (recursively, sorted by name, hidden entries and symlinked folders skipped). */
async function walkFiles(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) await walkFiles(p, out);
    else if (e.isFile()) out.push(p);
    else if (e.isSymbolicLink()) {
      const s = await stat(p).catch(() => null);
      if (s?.isFile()) out.push(p);
    }
  }
}

async function imagesIn(files: string[]): Promise<string[]> {
  const keep = await Promise.all(files.map(isImageCandidate));
  return files.filter((_, i) => keep[i]);
}

const GLOB_CHARS = /[*?]/;

async function expandGlob(pattern: string): Promise<string[]> {
  const parts = normalize(pattern).split(sep);
  const firstWild = parts.findIndex((p) => GLOB_CHARS.test(p));
  const root = parts.slice(0, firstWild).join(sep) || (isAbsolute(pattern) ? sep : '.');
  const re = globToRegExp(parts.slice(firstWild).join('/'));
  const all: string[] = [];
  await walkFiles(root, all).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT' && e.code !== 'ENOTDIR') throw e;
  });
  return imagesIn(all.filter((p) => re.test(relative(root, p).split(sep).join('/'))));
}

export interface ExpandedInputs {
  /** Image paths, in argument order, each once. */
  files: string[];
  /** Arguments that named nothing (an empty folder, a glob without matches): worth a warning. */
  empty: string[];
}

/** Expands `cskd score` arguments to the image paths to score. */
export async function expandInputs(args: readonly string[]): Promise<ExpandedInputs> {
  const seen = new Set<string>();
  const files: string[] = [];
  const empty: string[] = [];
  const add = (paths: string[], arg: string): void => {
    for (const raw of paths) {
      const p = normalize(raw);
      if (!seen.has(p)) {
        seen.add(p);
        files.push(p);
      }
    }
    if (paths.length === 0) empty.push(arg);
  };
  for (const arg of args) {
    if (arg.startsWith('@')) {
      const list = arg.slice(1);
      let text: string;
      try {
        text = await readFile(list, 'utf8');
      } catch (e) {
        throw new Error(`cannot read list file ${list} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
      }
      const base = dirname(list);
      const entries = text
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#'))
        .map((l) => (isAbsolute(l) ? l : join(base, l)));
      add(entries, arg);
      continue;
    }
    const s = await stat(arg).catch(() => null);
    if (s?.isDirectory()) {
      const all: string[] = [];
      await walkFiles(arg, all);
      add(await imagesIn(all), arg);
    } else if (!s && GLOB_CHARS.test(arg)) {
      add(await expandGlob(arg), arg);
    } else {
      add([arg], arg);
    }
  }
  return { files, empty };
}

export interface Shard {
  /** 0-based index of this shard. */
  index: number;
  count: number;
}

/** Parses "i/n" (0 ≤ i < n). */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1) || !(index < count)) {
    throw new RangeError(`--shard must be i/n with 0 ≤ i < n (e.g. 0/4 … 3/4), got '${text}'`);
  }
  return { index, count };
}

/**
 * The shard a path belongs to: the first 32 bits of SHA-1 of its UTF-8 bytes,
 * modulo the shard count. Depends only on the path string, so every machine
 * given the same arguments agrees.
 */
export function shardOf(path: string, count: number): number {
  return createHash('sha1').update(path, 'utf8').digest().readUInt32BE(0) % count;
}

export function inShard(path: string, shard: Shard | null): boolean {
  return shard === null || shard.count === 1 || shardOf(path, shard.count) === shard.index;
}
