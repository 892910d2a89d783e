// Small file helpers the CLIP side shares: content hashes and the cache folder.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

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
