// lowerPriority: every thread of the process ends up `by` nice levels lower,
// the ones running before the call (V8's platform workers) and the ones
// started after it (libuv's pool, a worker thread), read back from
// /proc/<pid>/task/<tid>/stat. Linux only: elsewhere the nice value is the
// process's and there is nothing per thread to check.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { getPriority } from 'node:os';

import { describe, expect, it } from 'vitest';

// The child: lower by 5, start libuv's pool and a worker thread, then print each thread's nice.
const child = `
const { lowerPriority } = await import('./src/util/priority.ts');
const { threadNices } = await import('./test/helpers/threads.ts');
const { Worker } = await import('node:worker_threads');
const { readFile } = await import('node:fs/promises');
lowerPriority(5);
await Promise.all([readFile('package.json'), readFile('tsconfig.json'), readFile('README.md'), readFile('LICENSE')]);
const w = new Worker('setTimeout(() => {}, 2000)', { eval: true });
await new Promise((r) => w.once('online', r));
console.log(JSON.stringify(threadNices(process.pid)));
await w.terminate();
`;

describe.skipIf(!existsSync('/proc/self/task'))('lowerPriority', () => {
  it('lowers every thread, those already running and those started after', () => {
    const base = getPriority();
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const nices = JSON.parse(r.stdout) as Record<string, number>;
    // Node's own threads at start (main, V8's workers, the inspector's…) plus libuv's pool (4) and the worker.
    expect(Object.keys(nices).length).toBeGreaterThanOrEqual(8);
    for (const [tid, nice] of Object.entries(nices)) expect(nice, `thread ${tid}`).toBe(Math.min(19, base + 5));
  });

  it('refuses a level outside 0..19', async () => {
    const { lowerPriority } = await import('../../src/util/priority.js');
    expect(() => lowerPriority(20)).toThrow(/0\.\.19, got 20/);
    expect(() => lowerPriority(-1)).toThrow(/0\.\.19, got -1/);
  });
});
