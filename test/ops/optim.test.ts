import { describe, expect, it } from 'vitest';

import { SegmentTable, adamwStep, clipCoefficient, emaUpdate, gradNorm } from '../../src/ops/optim.js';
import { Rng, expectClose, f64, tensorOf } from '../helpers/numeric.js';

describe('AdamW', () => {
  it('matches torch.optim.AdamW step by step, per segment lr and decay', () => {
    // PyTorch's AdamW (decoupled decay): p *= 1 - lr*wd; m, v moments; p -= lr * mhat / (sqrt(vhat) + eps).
    const rng = new Rng(14);
    const n = 50_000;
    const segs = [
      { start: 0, length: 30_000, lr: 1e-3, weightDecay: 0.05 },
      { start: 30_000, length: 20_000, lr: 5e-4, weightDecay: 0 },
    ];
    const table = new SegmentTable(segs);
    const p0 = rng.normals(n);
    const param = tensorOf(p0, [n]);
    const m = tensorOf(new Float64Array(n), [n]);
    const v = tensorOf(new Float64Array(n), [n]);
    const P = f64(param);
    const M = new Float64Array(n);
    const V = new Float64Array(n);
    const [b1, b2, eps] = [0.9, 0.999, 1e-8];
    for (let step = 1; step <= 5; step++) {
      const gArr = rng.normals(n);
      const grad = tensorOf(gArr, [n]);
      const gs = 0.7;
      adamwStep(param, grad, m, v, table, { step, gradScale: gs });
      for (const s of segs)
        for (let i = s.start; i < s.start + s.length; i++) {
          const g = (grad.data[i] as number) * gs;
          P[i] = (P[i] as number) * (1 - s.lr * s.weightDecay);
          M[i] = b1 * (M[i] as number) + (1 - b1) * g;
          V[i] = b2 * (V[i] as number) + (1 - b2) * g * g;
          const mh = (M[i] as number) / (1 - b1 ** step);
          const vh = (V[i] as number) / (1 - b2 ** step);
          P[i] = (P[i] as number) - (s.lr * mh) / (Math.sqrt(vh) + eps);
        }
      expectClose(param.data, P, 1e-6, `param after step ${step}`);
    }
    expectClose(m.data, M, 1e-5, 'm');
    expectClose(v.data, V, 1e-5, 'v');
  });

  it('rejects overlapping segments and a zero step', () => {
    expect(() => new SegmentTable([{ start: 0, length: 10, lr: 1, weightDecay: 0 }, { start: 5, length: 10, lr: 1, weightDecay: 0 }])).toThrow(RangeError);
    const t = tensorOf([1, 2], [2]);
    expect(() => adamwStep(t, t, t, t, new SegmentTable([{ start: 0, length: 2, lr: 1, weightDecay: 0 }]), { step: 0 })).toThrow(/step must be a positive integer/);
  });
});

describe('clipping and EMA', () => {
  it('global norm and clip coefficient as clip_grad_norm_', () => {
    const rng = new Rng(15);
    const g = rng.normals(200_001);
    const t = tensorOf(g, [g.length]);
    const norm = Math.sqrt(f64(t).reduce((s, x) => s + x * x, 0));
    expect(gradNorm(t)).toBeCloseTo(norm, 6);
    const c = clipCoefficient(t, 1);
    expect(c.coefficient).toBeCloseTo(1 / (norm + 1e-6), 12);
    expect(clipCoefficient(t, 1e9).coefficient).toBe(1);
  });
  it('ema = decay·ema + (1 − decay)·param', () => {
    const rng = new Rng(16);
    const n = 40_000;
    const e = rng.normals(n);
    const p = rng.normals(n);
    const ema = tensorOf(e, [n]);
    const param = tensorOf(p, [n]);
    const e32 = f64(ema);
    emaUpdate(ema, param, 0.999);
    expectClose(ema.data, e32.map((x, i) => 0.999 * x + 0.001 * (param.data[i] as number)), 1e-6, 'ema');
  });
});
