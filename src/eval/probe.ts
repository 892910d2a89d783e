// The transfer probe: how much of a label a set of features carries, before
// any fine-tuning. A closed-form ridge regression from features to the mean
// score, fitted on the train split, scored by SRCC on val/test with a
// percentile-bootstrap 95% interval (a 50-image split's SRCC has a standard
// error near 0.13, so one number alone says little).
//
// The estimator, all in float64: each feature column is centred and scaled to
// unit standard deviation on the training rows (a constant column is left at
// zero), the target is centred; w solves (ZᵀZ + λI) w = Zᵀ(y − ȳ), through the
// dual (ZZᵀ + λI) a = y − ȳ, w = Zᵀa, when there are more features than rows
// (the same w, a smaller system). λ is chosen among n·10^k, k = −4…3, by the
// mean squared error of 5-fold cross-validation on the training rows.
import { Rng } from '../util/rng.js';
import { srcc } from './metrics.js';

/** Row-major features: n rows of d values. */
export interface FeatureMatrix {
  readonly data: Float64Array | Float32Array;
  readonly n: number;
  readonly d: number;
}

export interface RidgeFit {
  readonly lambda: number;
  readonly weights: Float64Array;
  readonly bias: number;
  /** Column means and scales of the training rows. */
  readonly mean: Float64Array;
  readonly scale: Float64Array;
}

/** Solves A x = b for a symmetric positive definite A (m×m, row-major; overwritten) by Cholesky. */
export function solveSpd(A: Float64Array, b: Float64Array, m: number): Float64Array {
  for (let j = 0; j < m; j++) {
    let s = A[j * m + j]!;
    for (let k = 0; k < j; k++) s -= A[j * m + k]! ** 2;
    if (!(s > 0)) throw new RangeError(`solveSpd: the matrix is not positive definite (pivot ${j} is ${s})`);
    const l = Math.sqrt(s);
    A[j * m + j] = l;
    for (let i = j + 1; i < m; i++) {
      let t = A[i * m + j]!;
      for (let k = 0; k < j; k++) t -= A[i * m + k]! * A[j * m + k]!;
      A[i * m + j] = t / l;
    }
  }
  const x = Float64Array.from(b);
  for (let i = 0; i < m; i++) {
    let t = x[i]!;
    for (let k = 0; k < i; k++) t -= A[i * m + k]! * x[k]!;
    x[i] = t / A[i * m + i]!;
  }
  for (let i = m - 1; i >= 0; i--) {
    let t = x[i]!;
    for (let k = i + 1; k < m; k++) t -= A[k * m + i]! * x[k]!;
    x[i] = t / A[i * m + i]!;
  }
  return x;
}

function rowsOf(X: FeatureMatrix, rows: readonly number[]): FeatureMatrix {
  const out = new Float64Array(rows.length * X.d);
  rows.forEach((r, i) => out.set(X.data.subarray(r * X.d, (r + 1) * X.d), i * X.d));
  return { data: out, n: rows.length, d: X.d };
}

/** The ridge fit at one λ (see the header for the estimator). */
export function ridgeFit(X: FeatureMatrix, y: ArrayLike<number>, lambda: number): RidgeFit {
  const { n, d } = X;
  if (n < 2) throw new RangeError(`ridgeFit: needs at least 2 training rows, got ${n}`);
  if (y.length !== n) throw new RangeError(`ridgeFit: ${y.length} targets for ${n} rows`);
  if (!(lambda > 0)) throw new RangeError(`ridgeFit: lambda must be positive, got ${lambda}`);
  const mean = new Float64Array(d);
  const scale = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += X.data[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) scale[j]! += (X.data[i * d + j]! - mean[j]!) ** 2;
  for (let j = 0; j < d; j++) scale[j] = Math.sqrt(scale[j]! / n);
  const Z = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) Z[i * d + j] = scale[j]! > 0 ? (X.data[i * d + j]! - mean[j]!) / scale[j]! : 0;
  let bias = 0;
  for (let i = 0; i < n; i++) bias += y[i]!;
  bias /= n;
  const yc = Float64Array.from({ length: n }, (_, i) => y[i]! - bias);
  const weights = new Float64Array(d);
  if (d <= n) {
    const A = new Float64Array(d * d);
    const b = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const row = i * d;
      for (let j = 0; j < d; j++) {
        const zj = Z[row + j]!;
        if (zj === 0) continue;
        b[j]! += zj * yc[i]!;
        for (let k = 0; k <= j; k++) A[j * d + k]! += zj * Z[row + k]!;
      }
    }
    for (let j = 0; j < d; j++) {
      A[j * d + j]! += lambda;
      for (let k = 0; k < j; k++) A[k * d + j] = A[j * d + k]!;
    }
    weights.set(solveSpd(A, b, d));
  } else {
    const G = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let k = 0; k <= i; k++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += Z[i * d + j]! * Z[k * d + j]!;
        G[i * n + k] = s;
        G[k * n + i] = s;
      }
    for (let i = 0; i < n; i++) G[i * n + i]! += lambda;
    const a = solveSpd(G, yc, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) weights[j]! += Z[i * d + j]! * a[i]!;
  }
  return { lambda, weights, bias, mean, scale };
}

export function ridgePredict(fit: RidgeFit, X: FeatureMatrix): Float64Array {
  const out = new Float64Array(X.n);
  for (let i = 0; i < X.n; i++) {
    let s = fit.bias;
    for (let j = 0; j < X.d; j++) if (fit.scale[j]! > 0) s += (fit.weights[j]! * (X.data[i * X.d + j]! - fit.mean[j]!)) / fit.scale[j]!;
    out[i] = s;
  }
  return out;
}

/** λ by 5-fold cross-validated mean squared error on the training rows (folds from a seeded shuffle). */
export function chooseLambda(X: FeatureMatrix, y: ArrayLike<number>, o: { folds?: number; seed?: number; grid?: readonly number[] } = {}): number {
  const grid = o.grid ?? [-4, -3, -2, -1, 0, 1, 2, 3].map((k) => X.n * 10 ** k);
  const folds = Math.min(o.folds ?? 5, X.n);
  const order = new Rng(o.seed ?? 0).shuffle(Array.from({ length: X.n }, (_, i) => i));
  let best = grid[0] as number;
  let bestErr = Infinity;
  for (const lambda of grid) {
    let err = 0;
    for (let f = 0; f < folds; f++) {
      const inner = order.filter((_, i) => i % folds !== f);
      const outer = order.filter((_, i) => i % folds === f);
      if (inner.length < 2 || outer.length === 0) continue;
      const fit = ridgeFit(rowsOf(X, inner), inner.map((i) => y[i]!), lambda);
      const p = ridgePredict(fit, rowsOf(X, outer));
      outer.forEach((i, k) => (err += (p[k]! - y[i]!) ** 2));
    }
    if (err < bestErr) {
      bestErr = err;
      best = lambda;
    }
  }
  return best;
}

export interface Interval {
  srcc: number;
  low: number;
  high: number;
  n: number;
}

/** SRCC with a percentile-bootstrap 95% interval (images resampled with replacement). */
export function bootstrapSrcc(pred: ArrayLike<number>, target: ArrayLike<number>, o: { samples?: number; seed?: number } = {}): Interval {
  const n = pred.length;
  const value = srcc(pred, target);
  const B = o.samples ?? 1000;
  const rng = new Rng(o.seed ?? 0);
  const stats: number[] = [];
  const p = new Float64Array(n);
  const t = new Float64Array(n);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) {
      const k = rng.int(n);
      p[i] = pred[k]!;
      t[i] = target[k]!;
    }
    const s = srcc(p, t);
    if (Number.isFinite(s)) stats.push(s);
  }
  stats.sort((a, b) => a - b);
  const at = (q: number) => (stats.length > 0 ? (stats[Math.min(stats.length - 1, Math.max(0, Math.floor(q * stats.length)))] as number) : NaN);
  return { srcc: value, low: at(0.025), high: at(0.975), n };
}

export interface ProbeSplit {
  name: string;
  X: FeatureMatrix;
  y: ArrayLike<number>;
}

export interface ProbeResult {
  lambda: number;
  splits: (Interval & { split: string })[];
}

/** Fits the probe on `train` (λ by cross-validation) and scores each evaluation split. */
export function ridgeProbe(train: { X: FeatureMatrix; y: ArrayLike<number> }, evals: readonly ProbeSplit[], o: { seed?: number; bootstrap?: number } = {}): ProbeResult {
  const lambda = chooseLambda(train.X, train.y, { seed: o.seed ?? 0 });
  const fit = ridgeFit(train.X, train.y, lambda);
  return {
    lambda,
    splits: evals.map((e) => ({ split: e.name, ...bootstrapSrcc(ridgePredict(fit, e.X), e.y, { samples: o.bootstrap ?? 1000, seed: o.seed ?? 0 }) })),
  };
}
