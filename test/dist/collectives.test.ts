// The MPI communicator across two processes started by mpirun: each
// collective's result against the value this test computes from the formula
// the ranks used, and the failures (mismatch, a late rank, a killed rank).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { mpirunMissing, runRanks, secondsUntilGone } from './mpirun.js';

const contribution = (r: number, n: number): number[] => Array.from({ length: n }, (_, i) => Math.sin(r * 1000 + i) * (i + 1));

describe.skipIf(mpirunMissing !== null)(`collectives over MPI, 2 ranks${mpirunMissing ? ` (skipped: ${mpirunMissing})` : ''}`, () => {
  it('allReduce, broadcast, broadcastJson, allgather and barrier give the values computed here', async () => {
    // 10 000 floats in buckets of 2621 (0.01 MB): four MPI_Allreduce calls.
    const run = await runRanks(2, 'collectives_child.ts', ['collectives'], { CSKD_DIST_BUCKET_MB: '0.01' });
    expect(run.code, run.output).toBe(0);
    const a = contribution(0, 10_000).map(Math.fround);
    const b = contribution(1, 10_000).map(Math.fround);
    // Two float32 operands: the float32 sum is their exact sum rounded once.
    const sum = a.map((x, i) => Math.fround(x + b[i]!));
    for (const rank of [0, 1]) {
      const r = run.results.get(rank)!;
      expect(r['size']).toBe(2);
      expect(r['backend']).toBe('mpi');
      expect(r['tensor']).toEqual(sum);
      expect(r['f64']).toEqual(contribution(10, 5).map((x, i) => x + contribution(11, 5)[i]!));
      expect(r['counts']).toEqual([1 + 2]);
      expect(r['broadcast']).toEqual(contribution(99, 16).map(Math.fround));
      expect(r['json']).toEqual({ run: '/runs/x', n: 3 });
      // Rank 0 passes [0], rank 1 passes [10, 11].
      expect(r['gather']).toEqual([0, 10, 11]);
      expect(r['gatherCounts']).toEqual([1, 2]);
    }
    // Rank 1 reached the barrier 600 ms after rank 0 left the allgather.
    expect(run.results.get(0)!['barrierMs']).toBeGreaterThan(450);
  });

  it('data parallel: rank slices with local/global gradient scale sum to the one-process mean gradient', async () => {
    const run = await runRanks(2, 'collectives_child.ts', ['gradient']);
    expect(run.code, run.output).toBe(0);
    // The whole batch's mean gradient in float64, here.
    const w = [0.5, -1, 2];
    const full = [0, 0, 0];
    for (let i = 0; i < 7; i++) {
      const xi = [0, 1, 2].map((j) => Math.cos(i * 3 + j));
      const r = xi[0]! * w[0]! + xi[1]! * w[1]! + xi[2]! * w[2]! - Math.sin(i);
      for (let j = 0; j < 3; j++) full[j]! += (2 * r * xi[j]!) / 7;
    }
    for (const rank of [0, 1]) {
      const r = run.results.get(rank)!;
      const g = r['gradient'] as number[];
      g.forEach((v, j) => expect(Math.abs(v - full[j]!) / Math.abs(full[j]!)).toBeLessThan(1e-5));
      // Rank 1 reported a non-finite loss: no rank goes on alone.
      expect(r['finite']).toBe(false);
      expect(r['dist']).toEqual({ event: 'dist', worldSize: 2, backend: 'mpi', imagesPerRank: [3, 4] });
    }
  });

  it('a collective that differs between ranks is an error on every rank, naming both calls', async () => {
    const run = await runRanks(2, 'collectives_child.ts', ['mismatch']);
    expect(run.code).not.toBe(0);
    const e0 = run.results.get(0)?.['error'] as string;
    const e1 = run.results.get(1)?.['error'] as string;
    expect(e0).toMatch(/^rank 0: collective mismatch: rank 0 is in #1 allReduce\(float32 x 2\) 'loss' at step 3 but rank 1 calls another collective: #1 barrier\(\)/);
    expect(e1).toMatch(/^rank 1: collective mismatch: rank 0 is in #1 allReduce\(float32 x 2\) .* but rank 1 calls another collective: #1 barrier\(\) 'end of epoch' at step 3/);
  });

  it('collectives at different steps are a mismatch, not a deadlock', async () => {
    const run = await runRanks(2, 'collectives_child.ts', ['step-mismatch']);
    expect(run.code).not.toBe(0);
    for (const rank of [0, 1]) {
      expect(run.results.get(rank)?.['error']).toBe(
        `rank ${rank}: collective mismatch: rank 0 is in #0 allReduce(float32 x 1) 'gradients' at step 4 but rank 1 is at another step: #0 allReduce(float32 x 1) 'gradients' at step 5`,
      );
    }
  });

  it('a rank that never arrives: the waiting rank names it after the timeout and the job ends', async () => {
    const run = await runRanks(2, 'collectives_child.ts', ['late-rank'], { CSKD_DIST_TIMEOUT_S: '2' });
    expect(run.code).not.toBe(0);
    expect(run.output).toContain("rank 0: collective #0 barrier 'never met' at step 0 waited 2 s for rank 1");
    // Rank 1 sleeps 60 s; the abort ends it long before (the launcher may
    // return while its signals are still landing).
    expect(run.pids).toHaveLength(2);
    expect(run.seconds + (await secondsUntilGone(run.pids, 30))).toBeLessThan(30);
  });

  it('a SIGKILLed rank: every rank is gone within 60 s, non-zero, with a message naming it', async () => {
    const run = await runRanks(2, 'collectives_child.ts', ['killed-rank']);
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/rank 1 .*(signal 9|Killed)/);
    expect(run.pids).toHaveLength(2);
    expect(run.seconds + (await secondsUntilGone(run.pids, 60))).toBeLessThan(60);
  });
});

describe('one process without a launcher', () => {
  it('is a size-1 communicator whose collectives leave the values, and never maps libmpi', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(OMPI_|PMI_|PMIX_|SLURM_)/.test(k)));
    const dir = mkdtempSync(join(tmpdir(), 'cskd-local-'));
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'collectives_child.ts'), 'local'], { env: { ...env, RESULT_DIR: dir }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(readFileSync(join(dir, 'result-0.json'), 'utf8')) as unknown;
    rmSync(dir, { recursive: true, force: true });
    expect(result).toEqual({ rank: 0, size: 1, backend: 'local', tensor: [1, 2, 3], gather: [4, 5], libmpiMapped: false });
  });
});
