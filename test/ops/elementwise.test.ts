import { describe, expect, it } from 'vitest';

import { attentionForward } from '../../src/ops/attention.js';
import { softmaxForward } from '../../src/ops/softmax.js';
import { add, axpy, biasAdd, biasGradient, geluBackward, geluForward, scale, type GeluKind } from '../../src/ops/elementwise.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Rng, expectClose, f64, poisoned, tensorOf } from '../helpers/numeric.js';
import { erfRef, geluRef } from '../helpers/reference.js';

describe('gelu', () => {
  const rng = new Rng(7);
  it('erfRef agrees with known values of erf', () => {
    // Abramowitz & Stegun table 7.1
    expect(erfRef(0.5)).toBeCloseTo(0.5204998778, 9);
    expect(erfRef(1)).toBeCloseTo(0.8427007929, 9);
    expect(erfRef(2)).toBeCloseTo(0.9953222650, 9);
    expect(erfRef(-3.5)).toBeCloseTo(-0.9999992569, 9);
  });
  for (const kind of ['erf', 'tanh', 'quick'] as GeluKind[]) {
    it(`${kind}: forward against float64, backward against finite differences`, () => {
      const n = 100003; // odd size: crosses every chunk boundary of the thread split
      const xs = rng.normals(n, 3);
      xs[0] = 0;
      xs[1] = -12;
      xs[2] = 12;
      const x = tensorOf(xs, [n]);
      const y = poisoned([n]);
      geluForward(x, y, kind);
      const X = f64(x);
      expectClose(y.data, X.map((v) => geluRef(v, kind)), 1e-6, 'y');
      const dy = tensorOf(rng.normals(n), [n]);
      const dx = poisoned([n]);
      geluBackward(x, dy, dx, kind);
      const h = 1e-5;
      const fd = X.map((v, i) => ((geluRef(v + h, kind) - geluRef(v - h, kind)) / (2 * h)) * (dy.data[i] as number));
      expectClose(dx.data, fd, 1e-5, 'dx');
      geluBackward(x, dy, dx, kind, true);
      expectClose(dx.data, fd.map((v) => 2 * v), 1e-5, 'dx accumulated');
    });
  }
  it('rejects an unknown kind', () => {
    expect(() => geluForward(Tensor.zeros([2]), Tensor.zeros([2]), 'relu' as GeluKind)).toThrow(TypeError);
  });
});

describe('adds', () => {
  const rng = new Rng(8);
  it('add, axpy, scale', () => {
    const n = 70001;
    const a = tensorOf(rng.normals(n), [n]);
    const b = tensorOf(rng.normals(n), [n]);
    const out = poisoned([n]);
    add(a, b, out);
    expectClose(out.data, f64(a).map((v, i) => v + (b.data[i] as number)), 1e-7, 'add');
    const y = tensorOf(f64(b), [n]);
    axpy(-0.5, a, y);
    expectClose(y.data, f64(b).map((v, i) => v - 0.5 * (a.data[i] as number)), 1e-6, 'axpy');
    const s = tensorOf(f64(a), [n]);
    scale(s, 3);
    expectClose(s.data, f64(a).map((v) => 3 * v), 1e-7, 'scale');
  });
  it('biasAdd and biasGradient', () => {
    const [rows, cols] = [197, 65];
    const x = tensorOf(rng.normals(rows * cols), [rows, cols]);
    const bias = tensorOf(rng.normals(cols), [cols]);
    const out = poisoned([rows, cols]);
    biasAdd(x, bias, out);
    expectClose(out.data, f64(x).map((v, i) => v + (bias.data[i % cols] as number)), 1e-7, 'biasAdd');
    const db = tensorOf(rng.normals(cols), [cols]);
    const db0 = f64(db);
    biasGradient(x, db);
    const ref = new Float64Array(cols);
    x.data.forEach((v, i) => (ref[i % cols] = (ref[i % cols] as number) + v));
    expectClose(db.data, ref.map((v, i) => v + (db0[i] as number)), 1e-6, 'biasGradient');
    biasGradient(x, db, false);
    expectClose(db.data, ref, 1e-6, 'biasGradient overwrite');
  });
  it('reject mismatched sizes', () => {
    expect(() => add(Tensor.zeros([3]), Tensor.zeros([4]), Tensor.zeros([3]))).toThrow(/add: b \[4\] and a \[3\] differ in size/);
  });
});

describe('NaN propagation through the vectorised math', () => {
  // A NaN must never come out finite: the trainer's NaN guard depends on it.
  it('gelu, softmax and attention keep a NaN a NaN', () => {
    for (const kind of ['erf', 'tanh', 'quick'] as GeluKind[]) {
      const y = geluForward(Tensor.from([NaN, 1, -100, 100]), Tensor.zeros([4]), kind);
      expect(Number.isNaN(y.data[0])).toBe(true);
      expect(Number.isFinite(y.data[1])).toBe(true);
      const dx = geluBackward(Tensor.from([NaN, 1]), Tensor.from([1, 1]), Tensor.zeros([2]), kind);
      expect(Number.isNaN(dx.data[0])).toBe(true);
    }
    const p = Tensor.zeros([2, 3]);
    softmaxForward(Tensor.from([NaN, 0, 1, 0, 1, 2], [2, 3]), p);
    expect(Array.from(p.data.subarray(0, 3)).every(Number.isNaN)).toBe(true);
    expect(Array.from(p.data.subarray(3)).every(Number.isFinite)).toBe(true);
    const q = Tensor.zeros([1, 1, 4, 8]).fill(0.1);
    q.data[5] = NaN;
    const out = Tensor.zeros([1, 1, 4, 8]);
    attentionForward({ q, k: Tensor.zeros([1, 1, 4, 8]).fill(0.2), v: Tensor.zeros([1, 1, 4, 8]).fill(1), out, lse: Tensor.zeros([1, 1, 4]) });
    expect(Number.isNaN(out.data[0])).toBe(true);
  });
});
