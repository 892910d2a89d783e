// Resampling learned position embeddings to another patch grid, so weights
// trained at one image size run at another.
//
// 'bicubic' (the default) reproduces timm's resample_abs_pos_embed, which is
// torch.nn.functional.interpolate(mode='bicubic', align_corners=False,
// antialias=True) on the [E, H, W] grid: Keys' cubic with a = -0.5 (as PIL),
// taps that fall outside the grid dropped and the rest renormalised to sum 1,
// and, when shrinking, the kernel widened by the scale (so it averages rather
// than aliases). 'bilinear' is the same scheme with the triangle filter, which
// for enlarging equals plain bilinear with align_corners=False. The prefix
// (CLS) tokens are copied unchanged. Arithmetic is float64, rounded once.

export type PosEmbedInterpolation = 'bicubic' | 'bilinear';

function cubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

function triangle(x: number): number {
  x = Math.abs(x);
  return x < 1 ? 1 - x : 0;
}

/** Row-normalised weights [outSize, inSize] of one axis (PyTorch's _compute_weights_aa). */
export function resampleWeights(inSize: number, outSize: number, interpolation: PosEmbedInterpolation = 'bicubic'): Float64Array {
  const filter = interpolation === 'bicubic' ? cubic : triangle;
  const halfWidth = interpolation === 'bicubic' ? 2 : 1;
  const scale = inSize / outSize;
  const stretch = Math.max(scale, 1);
  const support = halfWidth * stretch;
  const w = new Float64Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    let total = 0;
    for (let j = lo; j < hi; j++) total += w[i * inSize + j] = filter((j - center + 0.5) / stretch);
    if (total !== 0) for (let j = lo; j < hi; j++) w[i * inSize + j] = (w[i * inSize + j] as number) / total;
  }
  return w;
}

export interface ResamplePosEmbedOptions {
  /** Grid [H, W] the embeddings were trained for. */
  from: readonly [number, number];
  /** Grid [H, W] wanted. */
  to: readonly [number, number];
  /** Embedding width E. */
  dim: number;
  /** Leading tokens that are not on the grid (1: the CLS token). */
  prefix?: number;
  interpolation?: PosEmbedInterpolation;
}

/** pos [prefix + H·W, E] (any leading 1s) → a new array [prefix + H'·W', E]. */
export function resamplePosEmbed(pos: Float32Array, opts: ResamplePosEmbedOptions): Float32Array {
  const [h0, w0] = opts.from;
  const [h1, w1] = opts.to;
  const E = opts.dim;
  const prefix = opts.prefix ?? 1;
  for (const d of [h0, w0, h1, w1]) if (!(Number.isInteger(d) && d > 0)) throw new RangeError(`resamplePosEmbed: grid sizes must be positive integers, got [${h0}, ${w0}] → [${h1}, ${w1}]`);
  if (pos.length !== (prefix + h0 * w0) * E) {
    throw new RangeError(`resamplePosEmbed: ${pos.length} values are not ${prefix} + ${h0}×${w0} tokens of width ${E}`);
  }
  const out = new Float32Array((prefix + h1 * w1) * E);
  out.set(pos.subarray(0, prefix * E));
  if (h0 === h1 && w0 === w1) {
    out.set(pos.subarray(prefix * E), prefix * E);
    return out;
  }
  const interpolation = opts.interpolation ?? 'bicubic';
  const wy = resampleWeights(h0, h1, interpolation);
  const wx = resampleWeights(w0, w1, interpolation);
  const src = pos.subarray(prefix * E);
  // Width pass into [h0, w1, E], then height pass; the result is separable either way.
  const tmp = new Float64Array(h0 * w1 * E);
  for (let y = 0; y < h0; y++)
    for (let x = 0; x < w1; x++) {
      const t = (y * w1 + x) * E;
      for (let j = 0; j < w0; j++) {
        const c = wx[x * w0 + j] as number;
        if (c === 0) continue;
        const s = (y * w0 + j) * E;
        for (let e = 0; e < E; e++) tmp[t + e] = (tmp[t + e] as number) + c * (src[s + e] as number);
      }
    }
  const acc = new Float64Array(E);
  for (let y = 0; y < h1; y++)
    for (let x = 0; x < w1; x++) {
      acc.fill(0);
      for (let i = 0; i < h0; i++) {
        const c = wy[y * h0 + i] as number;
        if (c === 0) continue;
        const s = (i * w1 + x) * E;
        for (let e = 0; e < E; e++) acc[e] = (acc[e] as number) + c * (tmp[s + e] as number);
      }
      out.set(acc, (prefix + y * w1 + x) * E);
    }
  return out;
}

/** The side of a square grid of `tokens - prefix` patches, or null when it is not square. */
export function squareGrid(tokens: number, prefix = 1): number | null {
  const side = Math.round(Math.sqrt(tokens - prefix));
  return side > 0 && side * side === tokens - prefix ? side : null;
}
