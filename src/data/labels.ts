// Labels as K-bin score distributions. Every dataset ends up here: histograms
// of votes are normalised; mean-only labels become a distribution by one
// documented rule (meanToDistribution). The collector validates rows as the
// format readers feed them and reports each problem as file:line.
import type { LabelIssue } from './errors.js';

export interface LabeledSample {
  /** Identifier as the label file writes it (AVA image id, relative path, …). */
  id: string;
  /** Absolute path of the image. */
  path: string;
  /** Probabilities over the dataset's bins, summing to 1. */
  distribution: Float64Array;
  /** Mean score: the label's own when it gave one, else the distribution's. */
  mean: number;
  /** Total votes when the label was a histogram of counts; null for mean-only or normalised labels. */
  votes: number | null;
  file: string;
  line: number;
}

/** The default spread of mean-only labels: 15% of the score range (1.35 on AVA's 1–10, close to AVA's median per-image vote std). */
export const DEFAULT_MEAN_STD_FRACTION = 0.15;

function gaussianWeights(centre: number, std: number, bins: readonly number[]): Float64Array {
  const w = Float64Array.from(bins, (s) => Math.exp(-0.5 * ((s - centre) / std) ** 2));
  let z = 0;
  for (const x of w) z += x;
  for (let k = 0; k < w.length; k++) w[k] = w[k]! / z;
  return w;
}

function meanOf(p: ArrayLike<number>, bins: readonly number[]): number {
  let m = 0;
  for (let k = 0; k < bins.length; k++) m += (p[k] as number) * bins[k]!;
  return m;
}

/**
 * A mean-only label as a distribution: a Gaussian of the given std sampled at
 * the bin scores and normalised, its centre shifted (by bisection) so the
 * distribution's mean equals the label exactly — truncation at the ends of
 * the scale would otherwise pull it toward the middle. Means at or past an
 * end of the scale put all mass on that end bin.
 */
export function meanToDistribution(mean: number, bins: readonly number[], std: number): Float64Array {
  const K = bins.length;
  const lo = bins[0]!;
  const hi = bins[K - 1]!;
  if (!(std > 0)) throw new RangeError(`meanToDistribution: std must be positive, got ${std}`);
  if (mean <= lo || mean >= hi) {
    const p = new Float64Array(K);
    p[mean <= lo ? 0 : K - 1] = 1;
    return p;
  }
  // The mean of the sampled Gaussian increases monotonically with its centre.
  let a = lo - 10 * std - (hi - lo);
  let b = hi + 10 * std + (hi - lo);
  for (let it = 0; it < 200 && b - a > 1e-12 * (hi - lo); it++) {
    const c = (a + b) / 2;
    if (meanOf(gaussianWeights(c, std, bins), bins) < mean) a = c;
    else b = c;
  }
  return gaussianWeights((a + b) / 2, std, bins);
}

/** Bin scores lo, lo+step, …, hi. */
export function binRange(lo: number, hi: number, step: number): number[] {
  const n = Math.round((hi - lo) / step) + 1;
  return Array.from({ length: n }, (_, k) => +(lo + k * step).toFixed(10));
}

/** Validates rows as a format reader parses them; keeps good samples, lists every problem. */
export class LabelCollector {
  readonly samples: LabeledSample[] = [];
  readonly issues: LabelIssue[] = [];
  readonly #seen = new Map<string, number>();

  constructor(
    readonly file: string,
    readonly bins: readonly number[],
    /** Std for mean-only labels. */
    readonly meanStd: number = DEFAULT_MEAN_STD_FRACTION * (bins[bins.length - 1]! - bins[0]!),
  ) {}

  issue(line: number, message: string): void {
    this.issues.push({ file: this.file, line, message });
  }

  /** Parses a vote count or probability: finite and ≥ 0, else an issue naming the column. */
  number(line: number, what: string, text: string | undefined): number | null {
    const t = (text ?? '').trim();
    const v = t === '' ? NaN : Number(t);
    if (!Number.isFinite(v)) {
      this.issue(line, `${what}: '${text ?? ''}' is not a number`);
      return null;
    }
    return v;
  }

  #claim(line: number, id: string): boolean {
    const first = this.#seen.get(id);
    if (first !== undefined) {
      this.issue(line, `duplicate image '${id}' (first on line ${first})`);
      return false;
    }
    this.#seen.set(id, line);
    return true;
  }

  /** A histogram of votes (counts) or probabilities over the bins. */
  addHistogram(line: number, id: string, path: string, values: (number | null)[], counts: boolean): void {
    if (values.length !== this.bins.length) {
      this.issue(line, `expected ${this.bins.length} histogram values, got ${values.length}`);
      return;
    }
    if (values.some((v) => v === null)) return; // already reported
    const h = values as number[];
    const negative = h.findIndex((v) => v < 0);
    if (negative >= 0) {
      this.issue(line, `negative value ${h[negative]} in bin ${negative + 1}`);
      return;
    }
    const total = h.reduce((a, b) => a + b, 0);
    if (total === 0) {
      this.issue(line, 'all-zero histogram');
      return;
    }
    if (!this.#claim(line, id)) return;
    const distribution = Float64Array.from(h, (v) => v / total);
    this.samples.push({ id, path, distribution, mean: meanOf(distribution, this.bins), votes: counts ? total : null, file: this.file, line });
  }

  /** A mean score, which must lie on the bins' scale. */
  addMean(line: number, id: string, path: string, mean: number | null): void {
    if (mean === null) return;
    const lo = this.bins[0]!;
    const hi = this.bins[this.bins.length - 1]!;
    if (mean < lo || mean > hi) {
      this.issue(line, `mean score ${mean} is outside the scale [${lo}, ${hi}]`);
      return;
    }
    if (!this.#claim(line, id)) return;
    this.samples.push({ id, path, distribution: meanToDistribution(mean, this.bins, this.meanStd), mean, votes: null, file: this.file, line });
  }
}
