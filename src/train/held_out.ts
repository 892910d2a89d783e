// Phase 1's held-out slice of the unlabeled pool. An image is held out when the
// first 4 bytes of sha256(its path relative to the pool's folder, '/'-separated)
// read as a big-endian integer fall below fraction · 2^32. The choice depends
// on nothing but the path, so it is the same in every run, every resume and on
// every machine, and moving the pool's folder does not change it.
import { createHash } from 'node:crypto';
import { isAbsolute, relative, resolve, sep } from 'node:path';

/** The path as the hash sees it: relative to `baseDir`, with '/' separators. */
export function poolKey(path: string, baseDir: string): string {
  const rel = isAbsolute(path) ? relative(resolve(baseDir), path) : path;
  return rel.split(sep).join('/');
}

/** The first 4 bytes of sha256(key) as an unsigned integer. */
export function hashPrefix(key: string): number {
  return createHash('sha256').update(key, 'utf8').digest().readUInt32BE(0);
}

/** Whether the image `key` (a poolKey) is held out at this fraction. */
export function isHeldOut(key: string, fraction: number): boolean {
  return hashPrefix(key) < fraction * 2 ** 32;
}

export interface PoolSplit {
  /** The images phase 1 trains on. */
  train: string[];
  /** The images its per-epoch figures are computed on. */
  heldOut: string[];
}

/**
 * Splits the pool into training and held-out images. With `valSource` (a set
 * of paths: a named source of the pool) those images are the held-out slice
 * and the hash is not used.
 */
export function splitPool(paths: readonly string[], o: { baseDir: string; fraction: number; valSource?: ReadonlySet<string> | null }): PoolSplit {
  if (!(o.fraction >= 0 && o.fraction < 1)) throw new RangeError(`splitPool: the held-out fraction must be in [0, 1), got ${o.fraction}`);
  const train: string[] = [];
  const heldOut: string[] = [];
  for (const p of paths) {
    const out = o.valSource ? o.valSource.has(p) : isHeldOut(poolKey(p, o.baseDir), o.fraction);
    (out ? heldOut : train).push(p);
  }
  return { train, heldOut };
}
