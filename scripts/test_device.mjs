#!/usr/bin/env node
// npm run test:device: the device tests (test/device), one file at a time, so
// each file starts a fresh runtime (the emulated one reads its memory cap at
// start). The device is the main addon's GPU where it finds one, else the
// emulated device of build-emu/ (CSKD_EMULATED_DEVICE=1); CSKD_EMULATED_DEVICE
// set by the caller wins. Each file prints `device: <name>, kernel launches: N`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const env = { ...process.env };
if (env.CSKD_EMULATED_DEVICE === undefined) {
  let gpus;
  try {
    gpus = createRequire(import.meta.url)(join(root, 'build', 'Release', 'cskd.node')).deviceCount?.() ?? 0;
  } catch {
    gpus = 0;
  }
  env.CSKD_EMULATED_DEVICE = gpus > 0 ? '0' : '1';
}
console.log(`test:device on the ${env.CSKD_EMULATED_DEVICE === '1' ? 'emulated device (build-emu/)' : 'GPU of build/'}`);

const files = readdirSync(join(root, 'test', 'device')).filter((f) => f.endsWith('.test.ts')).sort();
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const started = Date.now();
let failed = 0;
for (const f of files) {
  const r = spawnSync(process.execPath, [vitest, 'run', '--config', 'vitest.device.config.ts', join('test', 'device', f)], { cwd: root, env, stdio: 'inherit' });
  if (r.status !== 0) failed += 1;
}
console.log(`test:device: ${files.length - failed} of ${files.length} files passed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(failed === 0 ? 0 : 1);
