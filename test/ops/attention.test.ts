import { describe, expect, it } from 'vitest';

import {
  attentionBackward,
  attentionBackwardPacked,
  attentionForward,
  attentionForwardPacked,
  attentionStats,
  attentionStatsPacked,
} from '../../src/ops/attention.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Golden } from '../helpers/golden.js';
import { Rng, expectClose, f64, finiteDifferences, poisoned, sampleIndices, tensorOf } from '../helpers/numeric.js';
import { attentionBackwardRef, attentionRef, attentionStatsRef } from '../helpers/reference.js';

// A plain float32 implementation lands near 1e-6 relative; the budget leaves room
// for the order of summation, not for a wrong formula.
const BUDGET = 2e-5;

function run(q: Tensor, k: Tensor, v: Tensor, dout: Tensor) {
  const [B, H, N, D] = q.shape as [number, number, number, number];
  const out = poisoned([B, H, N, D]);
  const lse = poisoned([B, H, N]);
  attentionForward({ q, k, v, out, lse });
  const dq = poisoned(q.shape);
  const dk = poisoned(q.shape);
  const dv = poisoned(q.shape);
  attentionBackward({ q, k, v, out, lse }, { dout, dq, dk, dv });
  return { out, lse, dq, dk, dv };
}

describe('attention against PyTorch (golden)', () => {
  for (const name of ['attention_B1H1N17D128', 'attention_B1H2N197D64', 'attention_B2H3N50D32']) {
    it(name, () => {
      const g = new Golden(name);
      const r = run(g.tensor('q'), g.tensor('k'), g.tensor('v'), g.tensor('grad_out'));
      expectClose(r.out.data, g.array('out'), BUDGET, 'out');
      expectClose(r.lse.data, g.array('lse'), BUDGET, 'lse');
      expectClose(r.dq.data, g.array('grad_q'), BUDGET, 'dq');
      expectClose(r.dk.data, g.array('grad_k'), BUDGET, 'dk');
      expectClose(r.dv.data, g.array('grad_v'), BUDGET, 'dv');
    });
  }
});

describe('attention against float64 on awkward sizes', () => {
  const rng = new Rng(3);
  const cases: [number, number, number, number][] = [
    [2, 3, 50, 32], [1, 2, 197, 64], [1, 1, 257, 128], [1, 1, 577, 64], [1, 1, 577, 128], [3, 1, 5, 32],
  ];
  for (const [B, H, N, D] of cases) {
    it(`B${B} H${H} N${N} D${D}`, () => {
      const n = B * H * N * D;
      // Scores of a few units, as in a trained ViT: the softmax is neither flat nor one-hot.
      const q = tensorOf(rng.normals(n, 1.5), [B, H, N, D]);
      const k = tensorOf(rng.normals(n, 1.5), [B, H, N, D]);
      const v = tensorOf(rng.normals(n), [B, H, N, D]);
      const dout = tensorOf(rng.normals(n), [B, H, N, D]);
      const r = run(q, k, v, dout);
      const ref = attentionRef(f64(q), f64(k), f64(v), B, H, N, D);
      expectClose(r.out.data, ref.out, BUDGET, 'out');
      expectClose(r.lse.data, ref.lse, BUDGET, 'lse');
      const g = attentionBackwardRef(f64(q), f64(k), f64(v), f64(dout), B, H, N, D);
      expectClose(r.dq.data, g.dq, BUDGET, 'dq');
      expectClose(r.dk.data, g.dk, BUDGET, 'dk');
      expectClose(r.dv.data, g.dv, BUDGET, 'dv');
    });
  }

  it('gradients match finite differences of the float64 forward', () => {
    const [B, H, N, D] = [1, 2, 19, 32];
    const n = B * H * N * D;
    const q = tensorOf(rng.normals(n), [B, H, N, D]);
    const k = tensorOf(rng.normals(n), [B, H, N, D]);
    const v = tensorOf(rng.normals(n), [B, H, N, D]);
    const dout = tensorOf(rng.normals(n), [B, H, N, D]);
    const r = run(q, k, v, dout);
    const g = f64(dout);
    const loss = (qq: Float64Array, kk: Float64Array, vv: Float64Array) =>
      attentionRef(qq, kk, vv, B, H, N, D).out.reduce((s, o, i) => s + o * (g[i] as number), 0);
    const coords = sampleIndices(rng, n, 24);
    const [Q, K, V] = [f64(q), f64(k), f64(v)];
    expectClose(coords.map((i) => r.dq.data[i] as number), finiteDifferences((x) => loss(x, K, V), Q, coords), 1e-5, 'dq');
    expectClose(coords.map((i) => r.dk.data[i] as number), finiteDifferences((x) => loss(Q, x, V), K, coords), 1e-5, 'dk');
    expectClose(coords.map((i) => r.dv.data[i] as number), finiteDifferences((x) => loss(Q, K, x), V, coords), 1e-5, 'dv');
  });

  it('reads a packed qkv [B, N, 3C] in place and agrees with the [B, H, N, D] layout', () => {
    const [B, H, N, D] = [2, 3, 50, 32];
    const C = H * D;
    const qkv = tensorOf(rng.normals(B * N * 3 * C), [B, N, 3 * C]);
    const dout = tensorOf(rng.normals(B * N * C), [B, N, C]);
    // Unpack by hand to the separate layout.
    const split = (which: number, src: Tensor, width: number, off: number) => {
      const t = Tensor.zeros([B, H, N, D]);
      for (let b = 0; b < B; b++)
        for (let n = 0; n < N; n++)
          for (let h = 0; h < H; h++)
            for (let d = 0; d < D; d++)
              t.data[((b * H + h) * N + n) * D + d] = src.data[(b * N + n) * width + off + which * C + h * D + d] as number;
      return t;
    };
    const q = split(0, qkv, 3 * C, 0);
    const k = split(1, qkv, 3 * C, 0);
    const v = split(2, qkv, 3 * C, 0);
    const doutSep = split(0, dout, C, 0);
    const r = run(q, k, v, doutSep);

    const out = poisoned([B, N, C]);
    const lse = poisoned([B, H, N]);
    attentionForwardPacked(qkv, H, out, lse);
    const dqkv = poisoned([B, N, 3 * C]);
    attentionBackwardPacked(qkv, H, out, lse, dout, dqkv);
    expectClose(split(0, out, C, 0).data, r.out.data, 1e-6, 'out');
    expectClose(lse.data, r.lse.data, 1e-6, 'lse');
    expectClose(split(0, dqkv, 3 * C, 0).data, r.dq.data, 1e-6, 'dq');
    expectClose(split(1, dqkv, 3 * C, 0).data, r.dk.data, 1e-6, 'dk');
    expectClose(split(2, dqkv, 3 * C, 0).data, r.dv.data, 1e-6, 'dv');
  });

  it('rejects mismatched shapes with the op and shapes in the message', () => {
    const q = Tensor.zeros([1, 2, 5, 8]);
    const bad = Tensor.zeros([1, 2, 6, 8]);
    expect(() =>
      attentionForward({ q, k: bad, v: q, out: Tensor.zeros([1, 2, 5, 8]), lse: Tensor.zeros([1, 2, 5]) }),
    ).toThrow(/attentionForward: k has shape \[1, 2, 6, 8\], expected \[1, 2, 5, 8\]/);
    expect(() => attentionForwardPacked(Tensor.zeros([1, 5, 10]), 2, Tensor.zeros([1, 5, 4]), Tensor.zeros([1, 2, 5]))).toThrow(RangeError);
  });
});

describe('attention statistics', () => {
  it('match PyTorch (golden, 4x4 grid, patch 16)', () => {
    const g = new Golden('attention_stats_grid4_patch16');
    const q = g.tensor('q');
    const k = g.tensor('k');
    const [B, H] = q.shape as [number, number];
    const distance = poisoned([B, H]);
    const entropy = poisoned([B, H]);
    attentionStats(q, k, { gridH: 4, gridW: 4, patchPx: 16 }, { distance, entropy });
    expectClose(distance.data, g.array('mean_distance'), 1e-5, 'distance');
    expectClose(entropy.data, g.array('entropy'), 1e-5, 'entropy');
  });

  it('match float64 on a 14x14 grid (N = 197) and from a packed qkv', () => {
    const rng = new Rng(4);
    const [B, H, N, D] = [2, 3, 197, 64];
    const q = tensorOf(rng.normals(B * H * N * D), [B, H, N, D]);
    const k = tensorOf(rng.normals(B * H * N * D), [B, H, N, D]);
    const distance = poisoned([B, H]);
    const entropy = poisoned([B, H]);
    attentionStats(q, k, { gridH: 14, gridW: 14, patchPx: 16 }, { distance, entropy });
    const ref = attentionStatsRef(f64(q), f64(k), B, H, N, D, 1, 14, 16);
    expectClose(distance.data, ref.distance, 1e-5, 'distance');
    expectClose(entropy.data, ref.entropy, 1e-5, 'entropy');

    const C = H * D;
    const qkv = Tensor.zeros([B, N, 3 * C]);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let n = 0; n < N; n++)
          for (let d = 0; d < D; d++) {
            qkv.data[(b * N + n) * 3 * C + h * D + d] = q.data[((b * H + h) * N + n) * D + d] as number;
            qkv.data[(b * N + n) * 3 * C + C + h * D + d] = k.data[((b * H + h) * N + n) * D + d] as number;
          }
    const d2 = poisoned([B, H]);
    const e2 = poisoned([B, H]);
    attentionStatsPacked(qkv, H, { gridH: 14, gridW: 14 }, { distance: d2, entropy: e2 });
    expectClose(d2.data, distance.data, 1e-6, 'packed distance');
    expectClose(e2.data, entropy.data, 1e-6, 'packed entropy');
  });

  it('reject a grid that does not cover the tokens', () => {
    const q = Tensor.zeros([1, 1, 17, 8]);
    expect(() => attentionStats(q, q, { gridH: 3, gridW: 4 }, { distance: Tensor.zeros([1, 1]), entropy: Tensor.zeros([1, 1]) })).toThrow(
      /17 tokens is not prefix\(1\) \+ gridH\(3\) × gridW\(4\)/,
    );
  });
});
