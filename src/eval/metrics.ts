// The numbers aesthetics models are judged by, on mean scores and on score
// distributions. Definitions follow scipy.stats (spearmanr, pearsonr,
// kendalltau with variant 'b') so results match what papers report; ties get
// average ranks (SRCC) and the tau-b correction (KRCC).
type Numbers = ArrayLike<number>;

function checkPair(what: string, a: Numbers, b: Numbers, min = 1): void {
  if (a.length !== b.length) throw new RangeError(`${what}: ${a.length} predictions vs ${b.length} targets`);
  if (a.length < min) throw new RangeError(`${what}: needs at least ${min} pairs, got ${a.length}`);
}

function mean(a: Numbers): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] as number;
  return s / a.length;
}

/** Pearson linear correlation (PLCC). NaN when either side is constant, as scipy. */
export function plcc(pred: Numbers, target: Numbers): number {
  checkPair('plcc', pred, target, 2);
  const mx = mean(pred);
  const my = mean(target);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < pred.length; i++) {
    const dx = (pred[i] as number) - mx;
    const dy = (target[i] as number) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** 1-based ranks, ties sharing their average rank (scipy.stats.rankdata 'average'). */
export function averageRanks(a: Numbers): Float64Array {
  const n = a.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => (a[i] as number) - (a[j] as number));
  const ranks = new Float64Array(n);
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && a[order[end] as number] === a[order[start] as number]) end++;
    const r = (start + 1 + end) / 2; // mean of ranks start+1 .. end
    for (let k = start; k < end; k++) ranks[order[k] as number] = r;
    start = end;
  }
  return ranks;
}

/** Spearman rank correlation (SRCC): Pearson correlation of average ranks. */
export function srcc(pred: Numbers, target: Numbers): number {
  checkPair('srcc', pred, target, 2);
  return plcc(averageRanks(pred), averageRanks(target));
}

/** Pairs with equal values among sorted-equal runs: sum of t(t−1)/2 over tie groups. */
function tiedPairs(sortedKeys: Int32Array, order: Int32Array): number {
  let total = 0;
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && sortedKeys[order[end] as number] === sortedKeys[order[start] as number]) end++;
    const t = end - start;
    total += (t * (t - 1)) / 2;
    start = end;
  }
  return total;
}

/** Dense integer ranks, so ties compare exactly. */
function denseRanks(a: Numbers): Int32Array {
  const n = a.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => (a[i] as number) - (a[j] as number));
  const r = new Int32Array(n);
  let rank = 0;
  for (let k = 0; k < n; k++) {
    if (k > 0 && a[order[k] as number] !== a[order[k - 1] as number]) rank++;
    r[order[k] as number] = rank;
  }
  return r;
}

/**
 * Kendall's tau-b (KRCC) in O(n log n) (Knight 1966, as scipy): sort by
 * (x, y), count strictly discordant pairs as merge-sort inversions of y.
 * tau_b = (n0 − n1 − n2 + n3 − 2·dis) / sqrt((n0 − n1)(n0 − n2)) with n1, n2
 * the pairs tied in x, in y, and n3 tied in both.
 */
export function krcc(pred: Numbers, target: Numbers): number {
  checkPair('krcc', pred, target, 2);
  const n = pred.length;
  const x = denseRanks(pred);
  const y = denseRanks(target);
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((i, j) => (x[i] as number) - (x[j] as number) || (y[i] as number) - (y[j] as number));
  const xTies = tiedPairs(x, order);
  const yOrder = Int32Array.from({ length: n }, (_, i) => i).sort((i, j) => (y[i] as number) - (y[j] as number));
  const yTies = tiedPairs(y, yOrder);
  let jointTies = 0;
  for (let start = 0; start < n; ) {
    let end = start + 1;
    const s = order[start] as number;
    while (end < n && x[order[end] as number] === x[s] && y[order[end] as number] === y[s]) end++;
    const t = end - start;
    jointTies += (t * (t - 1)) / 2;
    start = end;
  }
  // y in x-order; pairs i<j with y_i > y_j strictly are discordant (x ties are y-sorted, so never counted).
  const ys = Int32Array.from(order, (i) => y[i] as number);
  const discordant = countInversions(ys, new Int32Array(n), 0, n);
  const n0 = (n * (n - 1)) / 2;
  const num = n0 - xTies - yTies + jointTies - 2 * discordant;
  const den = Math.sqrt((n0 - xTies) * (n0 - yTies));
  if (den === 0) return NaN;
  return Math.max(-1, Math.min(1, num / den));
}

/** Merge sort a[lo, hi) counting pairs i<j with a[i] > a[j]. */
function countInversions(a: Int32Array, tmp: Int32Array, lo: number, hi: number): number {
  if (hi - lo < 2) return 0;
  const mid = (lo + hi) >>> 1;
  let count = countInversions(a, tmp, lo, mid) + countInversions(a, tmp, mid, hi);
  let i = lo;
  let j = mid;
  let k = lo;
  while (i < mid && j < hi) {
    if ((a[j] as number) < (a[i] as number)) {
      count += mid - i;
      tmp[k++] = a[j++] as number;
    } else tmp[k++] = a[i++] as number;
  }
  while (i < mid) tmp[k++] = a[i++] as number;
  while (j < hi) tmp[k++] = a[j++] as number;
  a.set(tmp.subarray(lo, hi), lo);
  return count;
}

export function rmse(pred: Numbers, target: Numbers): number {
  checkPair('rmse', pred, target);
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += ((pred[i] as number) - (target[i] as number)) ** 2;
  return Math.sqrt(s / pred.length);
}

export function mae(pred: Numbers, target: Numbers): number {
  checkPair('mae', pred, target);
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += Math.abs((pred[i] as number) - (target[i] as number));
  return s / pred.length;
}

/**
 * Two-class accuracy: an image is "high quality" when its mean score is ≥
 * threshold (5 on AVA's 1–10 scale, the convention since Murray et al. 2012
 * with δ = 0); the fraction of images where prediction and target agree.
 */
export function binaryAccuracy(pred: Numbers, target: Numbers, threshold = 5): number {
  checkPair('binaryAccuracy', pred, target);
  let agree = 0;
  for (let i = 0; i < pred.length; i++) if ((pred[i] as number) >= threshold === (target[i] as number) >= threshold) agree++;
  return agree / pred.length;
}

/**
 * Mean over rows of EMD_r between K-bin distributions [rows, K] (NIMA):
 * ((1/K)·Σ_k |CDF_p(k) − CDF_q(k)|^r)^(1/r), r = 2 by default.
 */
export function meanEmd(pred: Numbers, target: Numbers, bins: number, r = 2): number {
  checkPair('meanEmd', pred, target, bins);
  if (!Number.isInteger(bins) || bins < 1 || pred.length % bins !== 0) throw new RangeError(`meanEmd: ${pred.length} values are not rows of ${bins} bins`);
  const rows = pred.length / bins;
  let total = 0;
  for (let i = 0; i < rows; i++) {
    let P = 0;
    let Q = 0;
    let s = 0;
    for (let k = 0; k < bins; k++) {
      P += pred[i * bins + k] as number;
      Q += target[i * bins + k] as number;
      s += Math.abs(P - Q) ** r;
    }
    total += (s / bins) ** (1 / r);
  }
  return total / rows;
}

export interface DistributionMoments {
  mean: number;
  std: number;
}

/** Mean and standard deviation of a K-bin distribution whose bins score `scores` (normalised first). */
export function distributionMoments(p: Numbers, scores: Numbers): DistributionMoments {
  if (p.length !== scores.length) throw new RangeError(`distributionMoments: ${p.length} probabilities vs ${scores.length} bin scores`);
  let z = 0;
  for (let k = 0; k < p.length; k++) z += p[k] as number;
  if (!(z > 0)) throw new RangeError('distributionMoments: probabilities sum to zero');
  let mu = 0;
  for (let k = 0; k < p.length; k++) mu += ((p[k] as number) / z) * (scores[k] as number);
  let v = 0;
  for (let k = 0; k < p.length; k++) v += ((p[k] as number) / z) * ((scores[k] as number) - mu) ** 2;
  return { mean: mu, std: Math.sqrt(v) };
}

/** Mean scores of rows of K-bin distributions [rows, K]. */
export function meanScores(dists: Numbers, scores: Numbers): Float64Array {
  const K = scores.length;
  if (dists.length % K !== 0) throw new RangeError(`meanScores: ${dists.length} values are not rows of ${K} bins`);
  const out = new Float64Array(dists.length / K);
  for (let i = 0; i < out.length; i++) {
    let z = 0;
    let m = 0;
    for (let k = 0; k < K; k++) {
      z += dists[i * K + k] as number;
      m += (dists[i * K + k] as number) * (scores[k] as number);
    }
    out[i] = m / z;
  }
  return out;
}

export interface ScoreReport {
  count: number;
  srcc: number;
  plcc: number;
  krcc: number;
  rmse: number;
  mae: number;
  accuracy: number;
  /** Present when distributions were given. */
  emd?: number;
}

/** Every metric at once, from mean scores (and distributions when both are given). */
export function scoreReport(
  pred: Numbers,
  target: Numbers,
  options: { threshold?: number; predDist?: Numbers; targetDist?: Numbers; bins?: number } = {},
): ScoreReport {
  const report: ScoreReport = {
    count: pred.length,
    srcc: srcc(pred, target),
    plcc: plcc(pred, target),
    krcc: krcc(pred, target),
    rmse: rmse(pred, target),
    mae: mae(pred, target),
    accuracy: binaryAccuracy(pred, target, options.threshold),
  };
  if (options.predDist && options.targetDist && options.bins) report.emd = meanEmd(options.predDist, options.targetDist, options.bins);
  return report;
}

/** Mean and sample standard deviation (n − 1; 0 for a single value), e.g. of a metric over seeds. */
export function meanAndSpread(values: readonly number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const v = values.length > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, std: Math.sqrt(v) };
}
