// Files that appear complete or not at all: a checkpoint, a model, a feature
// shard or a report is written to a temp file beside its target, fsynced and
// renamed over it, so a killed process leaves the previous version.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Writes `parts` in order to `path` atomically: temp file, fsync, rename, fsync of the folder. */
export function writeFileAtomicSync(path: string, parts: Uint8Array | string | readonly (Uint8Array | string)[]): void {
  const list = Array.isArray(parts) ? parts : [parts];
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'w');
  let ok = false;
  try {
    for (const part of list as (Uint8Array | string)[]) {
      const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    }
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
