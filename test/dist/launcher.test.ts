// Launcher detection from the environment, and the header verdict that turns a
// mismatched collective into the same error on every rank. No MPI needed.
import { describe, expect, it } from 'vitest';

import { collectiveTimeout, detectLauncher, distMode } from '../../src/dist/launcher.js';
import { rankSlice } from '../../src/dist/data_parallel.js';
import { countsOf, encodeHeader, type Header, HEADER_LENGTH, headerMismatch, labelHash } from '../../src/dist/header.js';

describe('detectLauncher', () => {
  it('reads rank and size from Open MPI, PMI (MPICH, Intel MPI) and srun', () => {
    expect(detectLauncher({ OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '8' })).toEqual({ kind: 'openmpi', rank: 3, size: 8 });
    expect(detectLauncher({ PMI_RANK: '1', PMI_SIZE: '2' })).toEqual({ kind: 'pmi', rank: 1, size: 2 });
    expect(detectLauncher({ SLURM_PROCID: '5', SLURM_STEP_NUM_TASKS: '16', SLURM_NTASKS: '16' })).toEqual({ kind: 'slurm', rank: 5, size: 16 });
  });

  it('is null without a launcher, and for an sbatch script shell (no step)', () => {
    expect(detectLauncher({ HOME: '/root' })).toBeNull();
    expect(detectLauncher({ SLURM_JOB_ID: '77', SLURM_NTASKS: '4', SLURM_PROCID: '0' })).toBeNull();
  });

  it('rejects a rank outside the size, naming the variables', () => {
    expect(() => detectLauncher({ OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_SIZE: '2' })).toThrow('OMPI_COMM_WORLD_RANK=2 is not a rank of OMPI_COMM_WORLD_SIZE=2');
  });

  it('parses CSKD_DIST and CSKD_DIST_TIMEOUT_S, rejecting bad values by name', () => {
    expect(distMode({})).toBe('auto');
    expect(distMode({ CSKD_DIST: 'OFF' })).toBe('off');
    expect(() => distMode({ CSKD_DIST: 'nccl2' })).toThrow('CSKD_DIST=nccl2');
    expect(collectiveTimeout({})).toBe(120);
    expect(collectiveTimeout({ CSKD_DIST_TIMEOUT_S: '2.5' })).toBe(2.5);
    expect(() => collectiveTimeout({ CSKD_DIST_TIMEOUT_S: '-1' })).toThrow('CSKD_DIST_TIMEOUT_S=-1');
  });
});

describe('headerMismatch', () => {
  const base: Header = { seq: 4, step: 2, op: 'allReduce', dtype: 'float32', count: 10, root: -1, label: 'gradients', place: 'host' };
  const table = (...hs: Header[]): Float64Array => {
    const t = new Float64Array(HEADER_LENGTH * hs.length);
    hs.forEach((h, r) => t.set(encodeHeader(h), r * HEADER_LENGTH));
    return t;
  };

  it('labels hash as FNV-1a 32 (published test vectors)', () => {
    // From the FNV reference (draft-eastlake-fnv): "" and "a", "foobar".
    expect(labelHash('')).toBe(0x811c9dc5);
    expect(labelHash('a')).toBe(0xe40c292c);
    expect(labelHash('foobar')).toBe(0xbf9cf968);
  });

  it('agrees when every field matches', () => {
    expect(headerMismatch(table(base, base, base), 3, base)).toBeNull();
  });

  it('names the first rank that differs, and how', () => {
    const cases: [Partial<Header>, string][] = [
      [{ seq: 5 }, 'is at another collective number'],
      [{ op: 'barrier' }, 'calls another collective'],
      [{ step: 3 }, 'is at another step'],
      [{ label: 'loss' }, 'calls it from another place'],
      [{ dtype: 'float64' }, 'passes another element type'],
      [{ count: 11 }, 'passes another element count'],
      // Device tensors may go by NCCL and host memory by MPI: both must agree.
      [{ place: 'device' }, 'passes device memory where rank 0 passes host memory: #4 allReduce(float32 x 10 on device)'],
    ];
    for (const [change, why] of cases) {
      const msg = headerMismatch(table(base, base, { ...base, ...change }), 3, base);
      expect(msg).toContain(`but rank 2 ${why}`);
      expect(msg).toMatch(/^collective mismatch: rank 0 is in #4 allReduce\(float32 x 10\) 'gradients' at step 2/);
    }
  });

  it('lets allgather counts differ and broadcast receivers take any length, but not a wrong one', () => {
    const g: Header = { ...base, op: 'allgather' };
    const t = table(g, { ...g, count: 3 });
    expect(headerMismatch(t, 2, g)).toBeNull();
    expect(countsOf(t, 2)).toEqual([10, 3]);
    const b: Header = { ...base, op: 'broadcast', root: 1, count: -1 };
    expect(headerMismatch(table(b, { ...b, count: 7 }), 2, b)).toBeNull();
    expect(headerMismatch(table({ ...b, count: 6 }, { ...b, count: 7 }), 2, b)).toContain("but rank 0 passes another element count than the root's");
  });
});

describe('rankSlice', () => {
  it('cuts a batch into contiguous slices that cover it once, sizes within one', () => {
    // By hand: 10 over 4 ranks is [0,2) [2,5) [5,7) [7,10).
    expect([0, 1, 2, 3].map((r) => rankSlice(10, r, 4))).toEqual([
      { start: 0, end: 2 },
      { start: 2, end: 5 },
      { start: 5, end: 7 },
      { start: 7, end: 10 },
    ]);
    // One image over two ranks: rank 0's slice is empty, rank 1 takes it.
    expect([rankSlice(1, 0, 2), rankSlice(1, 1, 2)]).toEqual([
      { start: 0, end: 0 },
      { start: 0, end: 1 },
    ]);
    expect(() => rankSlice(4, 2, 2)).toThrow('rank 2 is not a rank of 2');
  });
});
