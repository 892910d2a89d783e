// What phase 1 regresses onto, and how its predictions are judged.
//
// Targets. Raw CLIP-like embeddings share one large direction (the demo's
// pairwise cosine is about 0.5), so 1 − cos against them is mostly paid by
// predicting that direction. `centred` subtracts the mean embedding of the
// training slice; `standardised` also divides each dimension by its standard
// deviation there.
//
// Judging. Whatever the targets, the held-out figures are 1 − cos against the
// raw stored embeddings, so they compare across options. A prediction z in the
// target space maps back to the raw space as μ + σ ⊙ (r · z/‖z‖): the losses
// fit only z's direction, and r is the length it is given: the least-squares
// scale mean ⟨t, z/‖z‖⟩ over training images (align.ts calibratedRadius), so a
// direction that is only partly right is shrunk toward the mean. The baseline
// is the mean-direction predictor: μ for every image.

export type AlignTargets = 'raw' | 'centred' | 'standardised';

export interface TargetStats {
  readonly kind: AlignTargets;
  readonly dim: number;
  /** Mean raw embedding of the training slice (float64). */
  readonly mean: Float64Array;
  /** Per-dimension standard deviation there (ones unless standardised). */
  readonly std: Float64Array;
  /** The length predictions get in the target space (targetStats: the targets' mean norm; see the header). */
  readonly radius: number;
}

/** Statistics of the training slice's raw embeddings, in float64. */
export function targetStats(kind: AlignTargets, rows: readonly Float32Array[], dim: number): TargetStats {
  if (rows.length === 0) throw new RangeError('targetStats: no training embeddings');
  const mean = new Float64Array(dim);
  for (const r of rows) for (let d = 0; d < dim; d++) mean[d]! += r[d]!;
  for (let d = 0; d < dim; d++) mean[d]! /= rows.length;
  const std = new Float64Array(dim).fill(1);
  if (kind === 'standardised') {
    const v = new Float64Array(dim);
    for (const r of rows) for (let d = 0; d < dim; d++) v[d]! += (r[d]! - mean[d]!) ** 2;
    let max = 0;
    for (let d = 0; d < dim; d++) max = Math.max(max, Math.sqrt(v[d]! / rows.length));
    // A constant dimension would divide by zero; it is left at a tiny fraction of the widest.
    for (let d = 0; d < dim; d++) std[d] = Math.max(Math.sqrt(v[d]! / rows.length), 1e-6 * max, 1e-12);
  }
  const s = { kind, dim, mean, std, radius: 1 };
  let norms = 0;
  const t = new Float32Array(dim);
  for (const r of rows) norms += norm(toTarget(s, r, t));
  return { ...s, radius: norms / rows.length };
}

/** A raw embedding in the target space, written into `out`. */
export function toTarget(s: Omit<TargetStats, 'radius'>, raw: Float32Array, out: Float32Array): Float32Array {
  for (let d = 0; d < s.dim; d++) out[d] = s.kind === 'raw' ? raw[d]! : (raw[d]! - s.mean[d]!) / s.std[d]!;
  return out;
}

/** A prediction in the target space mapped back to the raw space (see the header). */
export function toRaw(s: TargetStats, z: ArrayLike<number>, out: Float64Array): Float64Array {
  if (s.kind === 'raw') {
    for (let d = 0; d < s.dim; d++) out[d] = z[d]!;
    return out;
  }
  const n = norm(z);
  const k = n > 0 ? s.radius / n : 0;
  for (let d = 0; d < s.dim; d++) out[d] = s.mean[d]! + s.std[d]! * k * z[d]!;
  return out;
}

function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

/** 1 − cos(a, b) in float64; a zero vector counts as orthogonal. */
export function cosineDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return aa > 0 && bb > 0 ? 1 - ab / Math.sqrt(aa * bb) : 1;
}

/** The mean-direction predictor's loss: mean over `rows` of 1 − cos(mean, row). */
export function meanDirectionLoss(mean: ArrayLike<number>, rows: readonly ArrayLike<number>[]): number {
  if (rows.length === 0) return NaN;
  let s = 0;
  for (const r of rows) s += cosineDistance(mean, r);
  return s / rows.length;
}
