// Small file helpers the CLIP side shares: atomic writes (the store and the
// model cache must never show a torn file), content hashes, the cache folder.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';

/** Writes bytes to `path` atomically: a temp file beside it, fsync, rename, fsync of the folder. */
export function writeFileAtomicSync(path: string, bytes: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const fd = openSync(tmp, 'w');
  let ok = false;
  try {
    let done = 0;
    while (done < data.length) done += writeSync(fd, data, done, data.length - done);
    fsyncSync(fd);
    ok = true;
  } finally {
    closeSync(fd);
    if (!ok) rmSync(tmp, { force: true });
  }
  renameSync(tmp, path);
  syncDir(dirname(path));
}

/** Makes a rename or an append in `dir` durable; not every platform lets a folder be opened. */
export function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}

/** SHA-256 (hex) of a file, streamed so multi-GB models do not sit in memory. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

export function sha256(...parts: (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** cskd's cache folder: $CSKD_CACHE, else $XDG_CACHE_HOME/cskd, else ~/.cache/cskd. */
export function cacheDir(): string {
  if (process.env['CSKD_CACHE']) return process.env['CSKD_CACHE'];
  const xdg = process.env['XDG_CACHE_HOME'];
  return join(xdg && xdg !== '' ? xdg : join(homedir(), '.cache'), 'cskd');
}
