// The ridge probe against a float64 solution written here (normal equations
// solved by Gaussian elimination with partial pivoting), in both regimes the
// module uses (more rows than features: primal; fewer: dual); the bootstrap
// interval against Fisher's z interval for Spearman's rho.
import { describe, expect, it } from 'vitest';

import { bootstrapSrcc, chooseLambda, ridgeFit, ridgePredict, ridgeProbe } from '../../src/eval/probe.js';
import { Rng } from '../../src/util/rng.js';

/** Solves A x = b (m×m, row-major) by Gaussian elimination with partial pivoting, in float64. */
function gaussSolve(A: number[][], b: number[]): number[] {
  const m = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < m; c++) {
    let p = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = c + 1; r < m; r++) {
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= m; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  const x = new Array<number>(m).fill(0);
  for (let r = m - 1; r >= 0; r--) {
    let s = M[r]![m]!;
    for (let k = r + 1; k < m; k++) s -= M[r]![k]! * x[k]!;
    x[r] = s / M[r]![r]!;
  }
  return x;
}

/** The estimator from its definition: standardise on train, centre y, w = (ZᵀZ + λI)⁻¹ Zᵀ(y − ȳ). */
function ridgeReference(X: number[][], y: number[], lambda: number, Xtest: number[][]): number[] {
  const n = X.length;
  const d = X[0]!.length;
  const mu = Array.from({ length: d }, (_, j) => X.reduce((s, r) => s + r[j]!, 0) / n);
  const sd = Array.from({ length: d }, (_, j) => Math.sqrt(X.reduce((s, r) => s + (r[j]! - mu[j]!) ** 2, 0) / n));
  const z = (r: number[]) => r.map((v, j) => (sd[j]! > 0 ? (v - mu[j]!) / sd[j]! : 0));
  const Z = X.map(z);
  const ybar = y.reduce((s, v) => s + v, 0) / n;
  const A = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => Z.reduce((s, r) => s + r[i]! * r[j]!, 0) + (i === j ? lambda : 0)));
  const b = Array.from({ length: d }, (_, i) => Z.reduce((s, r, k) => s + r[i]! * (y[k]! - ybar), 0));
  const w = gaussSolve(A, b);
  return Xtest.map((r) => ybar + z(r).reduce((s, v, j) => s + v * w[j]!, 0));
}

function problem(n: number, d: number, seed: number) {
  const rng = new Rng(seed);
  const X = Array.from({ length: n }, () => Array.from({ length: d }, (_, j) => rng.normal() * (1 + j) + j));
  const w = Array.from({ length: d }, () => rng.normal());
  const y = X.map((r) => r.reduce((s, v, j) => s + v * w[j]!, 0) + 0.5 * rng.normal());
  return { X, y };
}

const matrix = (rows: number[][]) => ({ data: Float64Array.from(rows.flat()), n: rows.length, d: rows[0]!.length });

describe('ridge probe', () => {
  it.each([
    ['more rows than features (primal)', 40, 6],
    ['more features than rows (dual)', 9, 25],
  ])('matches the float64 normal-equation solution: %s', (_, n, d) => {
    const { X, y } = problem(n, d, n * 100 + d);
    const test = problem(7, d, 5).X;
    // A column that does not vary is left out of the fit on both sides.
    for (const r of [...X, ...test]) r[2] = 3;
    for (const lambda of [0.01, 1, 30]) {
      const want = ridgeReference(X, y, lambda, test);
      const got = ridgePredict(ridgeFit(matrix(X), y, lambda), matrix(test));
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-9 * (1 + Math.abs(want[i]!)));
    }
  });

  it('chooses the λ with the least 5-fold cross-validated squared error, computed here with the reference solver', () => {
    const { X, y } = problem(30, 12, 7);
    const grid = [0.01, 1, 100, 10000];
    const order = new Rng(3).shuffle(Array.from({ length: 30 }, (_, i) => i));
    const cv = grid.map((lambda) => {
      let err = 0;
      for (let f = 0; f < 5; f++) {
        const inner = order.filter((_, i) => i % 5 !== f);
        const outer = order.filter((_, i) => i % 5 === f);
        const p = ridgeReference(
          inner.map((i) => X[i]!),
          inner.map((i) => y[i]!),
          lambda,
          outer.map((i) => X[i]!),
        );
        outer.forEach((i, k) => (err += (p[k]! - y[i]!) ** 2));
      }
      return err;
    });
    const want = grid[cv.indexOf(Math.min(...cv))];
    expect(chooseLambda(matrix(X), y, { grid, seed: 3 })).toBe(want);
  });

  it('bootstrap interval: Fisher z for Spearman (SE 1.06/√(n − 3)) on a large sample; exact ranks give [1, 1]', () => {
    const rng = new Rng(11);
    const n = 400;
    const t = Array.from({ length: n }, () => rng.normal());
    // A weak correlation (about 0.3): the interval is wide, so a wrong coverage shows.
    const p = t.map((v) => v + 3 * rng.normal());
    const r = bootstrapSrcc(p, t, { samples: 2000, seed: 1 });
    const z = Math.atanh(r.srcc);
    const half = (1.96 * 1.06) / Math.sqrt(n - 3);
    expect(r.low).toBeGreaterThan(Math.tanh(z - half) - 0.015);
    expect(r.low).toBeLessThan(Math.tanh(z - half) + 0.015);
    expect(r.high).toBeGreaterThan(Math.tanh(z + half) - 0.015);
    expect(r.high).toBeLessThan(Math.tanh(z + half) + 0.015);
    const exact = bootstrapSrcc([1, 2, 3, 4, 5, 6], [10, 20, 30, 40, 50, 60], { samples: 200 });
    expect([exact.srcc, exact.low, exact.high]).toEqual([1, 1, 1]);
  });

  it('ridgeProbe scores each split and names it; too few rows is an error that says so', () => {
    const { X, y } = problem(50, 4, 2);
    const ev = problem(30, 4, 2);
    const r = ridgeProbe({ X: matrix(X), y }, [{ name: 'test', X: matrix(ev.X), y: ev.y }]);
    expect(r.splits.map((s) => s.split)).toEqual(['test']);
    expect(r.splits[0]!.low).toBeLessThanOrEqual(r.splits[0]!.srcc);
    expect(r.splits[0]!.high).toBeGreaterThanOrEqual(r.splits[0]!.srcc);
    expect(() => ridgeFit(matrix([[1, 2]]), [1], 1)).toThrow(/at least 2 training rows/);
  });
});
