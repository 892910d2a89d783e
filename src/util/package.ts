// The installed package's own metadata.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The root of the installed package (the folder holding package.json). */
export function packageRoot(): string {
  // This file is src/util/package.ts (or dist/util/package.js): two levels down.
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
