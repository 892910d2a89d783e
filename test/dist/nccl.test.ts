// The NCCL route on the emulated device (build-emu: device memory is host
// memory) under mpirun, with the stand-in libnccl over MPI
// (test/dist/nccl_standin): cskd's real NCCL code path (dlopen, rank 0's
// unique id broadcast over MPI, ncclCommInitRank, collectives on device
// tensors), NCCL absent (MPI by way of host copies, with a message), a hung
// NCCL collective, and `cskd info`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { mpirunMissing, runRanks, secondsUntilGone } from './mpirun.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const standin = join(root, 'build-emu', 'Release', 'libnccl_standin.so');
const emuMpi = join(root, 'build-emu', 'Release', 'cskd_mpi.node');
const missing = mpirunMissing ?? (existsSync(standin) ? null : `${standin} not built (npm run build:emu, with MPI's development files)`);
// The emulated addon, its own MPI module, and the stand-in (or the library a test names).
const env = (nccl: string, extra: Record<string, string> = {}): Record<string, string> => ({
  CSKD_EMULATED_DEVICE: '1',
  CSKD_MPI_MODULE: emuMpi,
  CSKD_NCCL: nccl,
  CSKD_NCCL_STANDIN_LOG: '1',
  ...extra,
});

const contribution = (r: number, n: number): number[] => Array.from({ length: n }, (_, i) => Math.sin(r * 1000 + i) * (i + 1));
const f32 = (xs: number[]): number[] => xs.map(Math.fround);

/** Rank 0's and rank 1's device tensors, scaled by 2 on the device, summed in float64. */
function expectedSum(n: number): number[] {
  const a = f32(contribution(0, n));
  const b = f32(contribution(1, n));
  return a.map((x, i) => 2 * x + 2 * b[i]!);
}

function expectClose(got: number[], want: number[], rel: number): void {
  expect(got).toHaveLength(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]!), `element ${i}: ${g} vs ${want[i]}`).toBeLessThanOrEqual(rel * Math.abs(want[i]!)));
}

describe.skipIf(missing !== null)(`NCCL on the emulated device, 2 ranks${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('device tensors go by NCCL (the float64 sum, the root broadcast), host tensors by MPI, and the dist event says nccl', async () => {
    const run = await runRanks(2, 'nccl_child.ts', ['collectives'], env(standin));
    expect(run.code, run.output).toBe(0);
    const want = expectedSum(1000);
    const host = contribution(10, 5).map((x, i) => Math.fround(x) + Math.fround(contribution(11, 5)[i]!));
    for (const rank of [0, 1]) {
      const r = run.results.get(rank)!;
      expect(r['backend']).toBe('nccl');
      // Two float32 operands: one rounding of their exact sum.
      expectClose(r['tensor'] as number[], want, 2 ** -24);
      expect(r['broadcast']).toEqual(f32(contribution(99, 16)));
      expectClose(r['host'] as number[], host, 2 ** -24);
      expect(r['dist']).toEqual({ event: 'dist', worldSize: 2, backend: 'nccl', imagesPerRank: [1, 2] });
      // The stand-in saw the device collectives, and only those.
      expect(run.output).toContain(`nccl stand-in: rank ${rank} allReduce x 1000`);
      expect(run.output).toContain(`nccl stand-in: rank ${rank} broadcast x 16`);
    }
    expect(run.output).not.toContain('allReduce x 5');
  });

  it('NCCL absent: a message naming the library, and device tensors through MPI by way of host copies', async () => {
    const run = await runRanks(2, 'nccl_child.ts', ['collectives'], env('/nonexistent/libnccl.so.2'));
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('cskd: rank 1: NCCL not used: CSKD_NCCL=/nonexistent/libnccl.so.2 does not load (/nonexistent/libnccl.so.2: cannot open shared object file');
    expect(run.output).toContain('cskd: device tensors go through MPI by way of host copies: NCCL needs every rank, and rank 0 (NCCL does not load), rank 1 (NCCL does not load) cannot use it');
    const want = expectedSum(1000);
    for (const rank of [0, 1]) {
      const r = run.results.get(rank)!;
      expect(r['backend']).toBe('mpi');
      expectClose(r['tensor'] as number[], want, 2 ** -24);
      expect(r['broadcast']).toEqual(f32(contribution(99, 16)));
      expect((r['dist'] as { backend: string }).backend).toBe('mpi');
    }
    expect(run.output).not.toContain('nccl stand-in:');
  });

  it('a hung NCCL collective: the watchdog names it and every rank is gone', async () => {
    const run = await runRanks(2, 'nccl_child.ts', ['collectives'], env(standin, { CSKD_NCCL_STANDIN_HANG_RANK: '1', CSKD_DIST_TIMEOUT_S: '2' }));
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/cskd: rank [01]: collective #0 allReduce 'gradients' at step 1 \(NCCL allReduce\) did not complete within 2 s/);
    expect(run.pids).toHaveLength(2);
    expect(run.seconds + (await secondsUntilGone(run.pids, 30))).toBeLessThan(30);
  });

  it('device memory on one rank and host memory on another is a mismatch on both, not a hang', async () => {
    const run = await runRanks(2, 'nccl_child.ts', ['place-mismatch'], env(standin));
    expect(run.code).not.toBe(0);
    for (const rank of [0, 1]) {
      expect(run.results.get(rank)?.['error']).toBe(
        `rank ${rank}: collective mismatch: rank 0 is in #0 allReduce(float32 x 2 on device) 'gradients' at step 0 but rank 1 passes host memory where rank 0 passes device memory: #0 allReduce(float32 x 2) 'gradients' at step 0`,
      );
    }
  });
});

describe.skipIf(!existsSync(standin))('cskd info on the emulated device', () => {
  const info = (nccl: string): string => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', "const { main } = await import('./src/cli/main.ts'); process.exitCode = await main(['info']);"], {
      cwd: root,
      env: { ...process.env, CSKD_EMULATED_DEVICE: '1', CSKD_MPI_MODULE: emuMpi, CSKD_NCCL: nccl },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout;
  };

  it('reports NCCL found, with its version and library, or not found with the reason', () => {
    // The stand-in reports NCCL_VERSION_CODE 22105.
    expect(info(standin)).toContain(`\nNCCL     found (2.21.5, ${standin})`);
    expect(info('/nonexistent/libnccl.so.2')).toMatch(/\nNCCL {5}not found: CSKD_NCCL=\/nonexistent\/libnccl.so.2 does not load \(.*cannot open shared object file/);
    expect(info('off')).toContain('\nNCCL     not found: disabled by CSKD_NCCL=off');
  });
});
