import { describe, expect, it } from 'vitest';

import { alignLoss, distillLoss, emdLoss, emdLossFromLogits, type AlignKind } from '../../src/ops/losses.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Golden } from '../helpers/golden.js';
import { Rng, expectClose, f64, finiteDifferences, poisoned, tensorOf } from '../helpers/numeric.js';
import { alignLossRef, distillRef, emdRef, softmaxRef } from '../helpers/reference.js';

function allCoords(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

describe('alignment loss', () => {
  it('matches PyTorch: 1 − cosine and MSE on normalised features (golden)', () => {
    const g = new Golden('align_B33D77');
    const s = g.tensor('student');
    const t = g.tensor('clip');
    const grad = poisoned(s.shape);
    expect(alignLoss(s, t, { kind: 'cosine', grad })).toBeCloseTo(g.scalar('cosine_loss'), 6);
    expectClose(grad.data, g.array('grad_student_cosine'), 1e-5, 'cosine grad');
    expect(alignLoss(s, t, { kind: 'mse', normalize: true, grad })).toBeCloseTo(g.scalar('mse_normalized_loss'), 6);
    expectClose(grad.data, g.array('grad_student_mse_normalized'), 1e-5, 'mse grad');
  });

  const rng = new Rng(11);
  const cases: [AlignKind, boolean][] = [['cosine', true], ['mse', true], ['mse', false], ['smooth-l1', true], ['smooth-l1', false]];
  for (const [kind, normalize] of cases) {
    it(`${kind} normalize=${normalize} with weights: loss against float64, gradient against finite differences`, () => {
      const [B, D] = [9, 33];
      const s = tensorOf(rng.normals(B * D), [B, D]);
      const t = tensorOf(rng.normals(B * D), [B, D]);
      const w = tensorOf(Array.from({ length: B }, () => rng.uniform() * 2), [B]);
      const grad = poisoned([B, D]);
      const beta = 0.05; // small, so smooth-L1 takes both branches
      const loss = alignLoss(s, t, { kind, normalize, weights: w, grad, beta, gradScale: 0.5 });
      const ref = (x: Float64Array) => alignLossRef(x, f64(t), B, D, kind, normalize, beta, f64(w));
      expect(Math.abs(loss - ref(f64(s)))).toBeLessThan(1e-6 * Math.max(1, Math.abs(loss)));
      const fd = finiteDifferences(ref, f64(s), allCoords(B * D), 1e-6).map((v) => 0.5 * v);
      expectClose(grad.data, fd, 1e-4, 'grad');
    });
  }
});

describe('EMD loss', () => {
  for (const K of [10, 5]) {
    it(`matches PyTorch for K = ${K}, r = 2 and squared (golden)`, () => {
      const g = new Golden(`emd_K${K}`);
      const p = g.tensor('pred');
      const q = g.tensor('target');
      const grad = poisoned(p.shape);
      expect(emdLoss(p, q, { grad })).toBeCloseTo(g.scalar('emd_r2'), 6);
      expectClose(grad.data, g.array('grad_pred_r2'), 1e-5, 'r2 grad');
      expect(emdLoss(p, q, { squared: true, grad })).toBeCloseTo(g.scalar('emd_squared'), 7);
      expectClose(grad.data, g.array('grad_pred_squared'), 1e-5, 'squared grad');
    });
  }

  const rng = new Rng(12);
  // r = 1 is left out of the gradient check: its last CDF term |P_K - Q_K| sits
  // at the kink of |x| (both CDFs end at 1), where finite differences are undefined.
  it('r = 1 loss against float64', () => {
    const [B, K] = [13, 10];
    const p = tensorOf(rng.distributions(B, K), [B, K]);
    const q = tensorOf(rng.distributions(B, K), [B, K]);
    expect(Math.abs(emdLoss(p, q, { r: 1 }) - emdRef(f64(p), f64(q), B, K, 1, false, 1e-12))).toBeLessThan(1e-6);
  });
  for (const [r, squared] of [[2, false], [2, true], [3, false]] as [number, boolean][]) {
    it(`r = ${r} squared=${squared} with weights against float64 and finite differences`, () => {
      const [B, K] = [13, 10];
      const p = tensorOf(rng.distributions(B, K), [B, K]);
      const q = tensorOf(rng.distributions(B, K), [B, K]);
      const w = tensorOf(Array.from({ length: B }, () => rng.uniform()), [B]);
      const grad = poisoned([B, K]);
      const loss = emdLoss(p, q, { r, squared, weights: w, grad });
      const ref = (x: Float64Array) => emdRef(x, f64(q), B, K, r, squared, 1e-12, f64(w));
      expect(Math.abs(loss - ref(f64(p)))).toBeLessThan(1e-6);
      expectClose(grad.data, finiteDifferences(ref, f64(p), allCoords(B * K), 1e-7), 1e-4, 'grad');
    });
  }

  it('keeps a finite gradient at zero distance', () => {
    const p = Tensor.from([0.1, 0.2, 0.3, 0.4], [1, 4]);
    const grad = poisoned([1, 4]);
    const loss = emdLoss(p, p, { grad });
    expect(loss).toBeCloseTo(Math.sqrt(1e-12), 9);
    expect(Array.from(grad.data)).toEqual([0, 0, 0, 0]);
  });

  it('reports a non-finite loss with the op name', () => {
    const p = Tensor.from([NaN, 1], [1, 2]);
    expect(() => emdLoss(p, Tensor.from([0.5, 0.5], [1, 2]))).toThrow(/emdLoss: loss is NaN/);
  });
});

describe('EMD from logits (fused softmax + EMD + softmax backward)', () => {
  const rng = new Rng(17);
  for (const [B, K, r, squared] of [[64, 10, 2, false], [13, 5, 2, true], [7, 10, 3, false], [300, 10, 2, false]] as [number, number, number, boolean][]) {
    it(`B${B} K${K} r=${r} squared=${squared}: loss, probabilities and logit gradient`, () => {
      const logits = tensorOf(rng.normals(B * K, 2), [B, K]);
      const target = tensorOf(rng.distributions(B, K), [B, K]);
      const w = tensorOf(Array.from({ length: B }, () => rng.uniform()), [B]);
      const grad = poisoned([B, K]);
      const probs = poisoned([B, K]);
      const loss = emdLossFromLogits(logits, target, { r, squared, weights: w, grad, probs, gradScale: 0.5 });
      const ref = (x: Float64Array) => emdRef(softmaxRef(x, B, K), f64(target), B, K, r, squared, 1e-12, f64(w));
      expect(Math.abs(loss - ref(f64(logits)))).toBeLessThan(1e-6);
      expectClose(probs.data, softmaxRef(f64(logits), B, K), 1e-6, 'probs');
      // Spread over every block of rows, the last partial one included.
      const nc = Math.min(B * K, 60);
      const coords = [...new Set(Array.from({ length: nc }, (_, i) => Math.min(B * K - 1, Math.floor((i * B * K) / nc) + (i % K))))];
      const fd = finiteDifferences(ref, f64(logits), coords, 1e-6).map((v) => 0.5 * v);
      expectClose(coords.map((i) => grad.data[i] as number), fd, 1e-4, 'grad');
    });
  }
  it('matches the golden EMD through a softmax of the same probabilities', () => {
    const g = new Golden('emd_K10');
    // logits = log(pred) gives softmax(logits) = pred exactly.
    const logits = Tensor.from(g.array('pred').map(Math.log), g.shape('pred'));
    expect(emdLossFromLogits(logits, g.tensor('target'))).toBeCloseTo(g.scalar('emd_r2'), 6);
  });
});

describe('distillation loss', () => {
  const rng = new Rng(13);
  for (const [kind, T] of [['kl', 1], ['kl', 2], ['soft-ce', 0.5]] as ['kl' | 'soft-ce', number][]) {
    it(`${kind} at T = ${T}`, () => {
      const [B, K] = [11, 10];
      const s = tensorOf(rng.normals(B * K, 2), [B, K]);
      const t = tensorOf(rng.normals(B * K, 2), [B, K]);
      const grad = poisoned([B, K]);
      const loss = distillLoss(s, t, { kind, temperature: T, grad });
      const ref = (x: Float64Array) => distillRef(x, f64(t), B, K, T, kind);
      expect(Math.abs(loss - ref(f64(s)))).toBeLessThan(1e-6 * Math.max(1, loss));
      expectClose(grad.data, finiteDifferences(ref, f64(s), allCoords(B * K), 1e-6), 1e-5, 'grad');
    });
  }
});
