#!/usr/bin/env node
// clang-format check of the native sources (--fix rewrites them in place).
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const fix = process.argv.includes('--fix');
const exts = ['.h', '.cc', '.cu', '.cuh'];
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (exts.some((e) => p.endsWith(e))) files.push(p);
  }
})('native');

const probe = spawnSync('clang-format', ['--version'], { encoding: 'utf8' });
if (probe.error) {
  console.error('check-format: clang-format is not installed (apt-get install clang-format)');
  process.exit(1);
}
if (fix) {
  execFileSync('clang-format', ['-i', ...files], { stdio: 'inherit' });
} else {
  const r = spawnSync('clang-format', ['--dry-run', '--Werror', ...files], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    console.error(`check-format: some native sources are not clang-formatted; run \`npm run format\``);
    process.exit(1);
  }
  console.log(`check-format: ${files.length} native files formatted`);
}
