// Deterministic random fills for benchmark inputs (fixed data, never zeros).

/** mulberry32: a small, fast 32-bit generator; returns floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fills `out` with uniform values in [lo, hi). */
export function fillUniform(out: Float32Array, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const span = hi - lo;
  for (let i = 0; i < out.length; i++) out[i] = lo + span * r();
  return out;
}

/** Fills `out` with normal values (Box–Muller). */
export function fillNormal(out: Float32Array, seed: number, mean = 0, std = 1): Float32Array {
  const r = rng(seed);
  for (let i = 0; i < out.length; i += 2) {
    const u = 1 - r();
    const v = r();
    const rad = Math.sqrt(-2 * Math.log(u));
    out[i] = mean + std * rad * Math.cos(2 * Math.PI * v);
    if (i + 1 < out.length) out[i + 1] = mean + std * rad * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Softmax of each row of a [rows, cols] buffer, in place. */
export function softmaxRows(x: Float32Array, rows: number, cols: number): Float32Array {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, x[o + c] as number);
    let sum = 0;
    for (let c = 0; c < cols; c++) {
      const e = Math.exp((x[o + c] as number) - max);
      x[o + c] = e;
      sum += e;
    }
    for (let c = 0; c < cols; c++) x[o + c] = (x[o + c] as number) / sum;
  }
  return x;
}

/** A message naming the first non-finite element, or null. */
export function firstNonFinite(name: string, x: Float32Array): string | null {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) return `${name}[${i}] is ${x[i]}`;
  }
  return null;
}
