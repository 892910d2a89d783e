// Error budgets, random inputs and finite differences for kernel tests.
import { expect } from 'vitest';

import { Tensor } from '../../src/tensor/tensor.js';
import { Rng as BaseRng } from '../../src/util/rng.js';

/** ‖a − ref‖ / ‖ref‖ over all elements (NaN if any element of a is not finite). */
export function relativeError(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (a.length !== ref.length) throw new Error(`length ${a.length} vs reference ${ref.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    if (!Number.isFinite(x)) return NaN;
    const d = x - (ref[i] as number);
    num += d * d;
    den += (ref[i] as number) ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** Asserts the relative error is within budget; names the first element past atol + rtol·|ref|. */
export function expectClose(actual: ArrayLike<number>, ref: ArrayLike<number>, budget: number, what = 'value'): void {
  const err = relativeError(actual, ref);
  if (!(err <= budget)) {
    let worst = -1;
    for (let i = 0; i < actual.length; i++) {
      const a = actual[i] as number;
      const r = ref[i] as number;
      if (!Number.isFinite(a) || Math.abs(a - r) > budget * (1 + Math.abs(r))) {
        worst = i;
        break;
      }
    }
    const detail = worst >= 0 ? `; first bad index ${worst}: ${actual[worst]} vs ${ref[worst]}` : '';
    expect.fail(`${what}: relative error ${err} exceeds ${budget}${detail}`);
  }
}

/** The project's PRNG with the draws tests need in bulk. */
export class Rng extends BaseRng {
  normals(n: number, std = 1): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * std;
    return out;
  }
  /** Rows of a random probability simplex [rows, cols] (softmax of normals). */
  distributions(rows: number, cols: number, sharpness = 1): Float64Array {
    const out = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += out[r * cols + c] = Math.exp(this.normal() * sharpness);
      for (let c = 0; c < cols; c++) out[r * cols + c] = (out[r * cols + c] as number) / s;
    }
    return out;
  }
}

/** A persistent tensor holding `values` rounded to float32. */
export function tensorOf(values: ArrayLike<number>, shape: readonly number[]): Tensor {
  return Tensor.from(values, shape);
}

/** A tensor filled with NaN, so any element a kernel fails to write shows up. */
export function poisoned(shape: readonly number[]): Tensor {
  return Tensor.zeros(shape).fill(NaN);
}

/** float32 values widened to float64 (what the kernel actually saw). */
export function f64(t: Tensor | Float32Array): Float64Array {
  return Float64Array.from(t instanceof Tensor ? t.data : t);
}

/**
 * Central differences of a float64 scalar function f at x, for the listed
 * coordinates. Returns df/dx_i for each i in `coords`.
 */
export function finiteDifferences(f: (x: Float64Array) => number, x: Float64Array, coords: number[], h = 1e-5): number[] {
  return coords.map((i) => {
    const y = Float64Array.from(x);
    const x0 = x[i] as number;
    y[i] = x0 + h;
    const fp = f(y);
    y[i] = x0 - h;
    const fm = f(y);
    return (fp - fm) / (2 * h);
  });
}

/** k distinct random indices below n (all of them when n <= k). */
export function sampleIndices(rng: Rng, n: number, k: number): number[] {
  if (n <= k) return Array.from({ length: n }, (_, i) => i);
  const set = new Set<number>();
  while (set.size < k) set.add(Math.floor(rng.uniform() * n));
  return [...set];
}

/**
 * Random weights large enough that every parameter matters to the output:
 * matrices with std 1.5/sqrt(fan-in), LayerNorm weights 1 ± 0.2, the rest
 * (biases, tokens, position embeddings) std 0.3.
 */
export function randomizeWeights(params: { list: readonly { name: string; shape: readonly number[]; size: number; value: Tensor }[] }, rng: Rng): void {
  for (const p of params.list) {
    const isNormWeight = /norm[^.]*\.weight$/.test(p.name);
    const fanIn = p.shape.length >= 2 ? p.size / (p.shape[0] as number) : 1;
    const std = isNormWeight ? 0.2 : p.shape.length >= 2 && !p.name.includes('token') && !p.name.includes('pos_embed') ? 1.5 / Math.sqrt(fanIn) : 0.3;
    const noise = rng.normals(p.size, std);
    p.value.data.set(isNormWeight ? noise.map((v) => 1 + v) : noise);
  }
}
