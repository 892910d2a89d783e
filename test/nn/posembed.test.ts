// Position-embedding resampling against hand-computed weights and an
// independent statement of PyTorch's antialiased interpolate (the one timm's
// resample_abs_pos_embed calls): output pixel o of a size-`n` → size-`m` axis
// samples at x = (o + ½)·n/m − ½ with the kernel stretched by s = max(n/m, 1),
// over every in-range input j, weights renormalised to sum 1.
import { describe, expect, it } from 'vitest';

import { resamplePosEmbed, resampleWeights, squareGrid } from '../../src/nn/posembed.js';
import { Rng, expectClose } from '../helpers/numeric.js';

function keys(x: number): number {
  // Keys' cubic convolution kernel with a = -0.5, written out.
  const t = Math.abs(x);
  if (t <= 1) return 1.5 * t ** 3 - 2.5 * t ** 2 + 1;
  if (t < 2) return -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2;
  return 0;
}

function axisWeights(n: number, m: number, kernel: (x: number) => number): number[][] {
  const s = Math.max(n / m, 1);
  return Array.from({ length: m }, (_, o) => {
    const x = ((o + 0.5) * n) / m - 0.5;
    const w = Array.from({ length: n }, (_, j) => kernel((j - x) / s));
    const total = w.reduce((a, b) => a + b, 0);
    return w.map((v) => v / total);
  });
}

/** pos [1 + h·w, E] resampled by the separable weights, CLS copied. */
function resampleRef(pos: Float32Array, E: number, h0: number, w0: number, h1: number, w1: number, kernel: (x: number) => number): Float64Array {
  const wy = axisWeights(h0, h1, kernel);
  const wx = axisWeights(w0, w1, kernel);
  const out = new Float64Array((1 + h1 * w1) * E);
  for (let e = 0; e < E; e++) out[e] = pos[e] as number;
  for (let y = 0; y < h1; y++)
    for (let x = 0; x < w1; x++)
      for (let e = 0; e < E; e++) {
        let s = 0;
        for (let i = 0; i < h0; i++) for (let j = 0; j < w0; j++) s += (wy[y]?.[i] as number) * (wx[x]?.[j] as number) * (pos[(1 + i * w0 + j) * E + e] as number);
        out[(1 + y * w1 + x) * E + e] = s;
      }
  return out;
}

function randomPos(tokens: number, E: number, seed: number): Float32Array {
  return Float32Array.from(new Rng(seed).normals(tokens * E));
}

describe('resamplePosEmbed', () => {
  it('is the identity when the grid does not change', () => {
    const pos = randomPos(1 + 16, 8, 1);
    expect(resamplePosEmbed(pos, { from: [4, 4], to: [4, 4], dim: 8 })).toEqual(pos);
  });

  it('4 → 8 bicubic weights of the first outputs, by hand', () => {
    // Output 0 samples at −0.25: taps at distances 0.25 and 1.25 (the one at −1 is off the grid):
    // k(0.25) = 111/128, k(1.25) = −9/128, renormalised → 37/34, −3/34.
    // Output 1 samples at 0.25: distances 0.25, 0.75, 1.75 → 111, 29, −3 (/128), sum 137/128.
    const w = resampleWeights(4, 8, 'bicubic');
    const close = (a: number, b: number) => expect(a).toBeCloseTo(b, 14);
    [37 / 34, -3 / 34, 0, 0].forEach((v, j) => close(w[j] as number, v));
    [111 / 137, 29 / 137, -3 / 137, 0].forEach((v, j) => close(w[4 + j] as number, v));
    // The interior output 3 samples at 1.25 and sees all four taps: k(1.25), k(0.25), k(0.75), k(1.75), sum 1.
    [-9 / 128, 111 / 128, 29 / 128, -3 / 128].forEach((v, j) => close(w[12 + j] as number, v));
  });

  it('4×4 → 8×8 bicubic matches the independent formula', () => {
    const E = 5;
    const pos = randomPos(1 + 16, E, 2);
    const out = resamplePosEmbed(pos, { from: [4, 4], to: [8, 8], dim: E });
    expect(out.length).toBe((1 + 64) * E);
    expectClose(out, resampleRef(pos, E, 4, 4, 8, 8, keys), 1e-6, '4→8 bicubic');
    expect(Array.from(out.subarray(0, E))).toEqual(Array.from(pos.subarray(0, E)));
  });

  it('shrinking (8×8 → 3×5) widens the kernel (antialias) and matches the formula', () => {
    const E = 3;
    const pos = randomPos(1 + 64, E, 3);
    const out = resamplePosEmbed(pos, { from: [8, 8], to: [3, 5], dim: E });
    expectClose(out, resampleRef(pos, E, 8, 8, 3, 5, keys), 1e-6, '8→3×5 bicubic');
  });

  it('bilinear enlarging equals plain bilinear with align_corners=False', () => {
    const E = 2;
    const pos = randomPos(1 + 9, E, 4);
    const out = resamplePosEmbed(pos, { from: [3, 3], to: [7, 7], dim: E, interpolation: 'bilinear' });
    const lerp = (o: number) => {
      const x = Math.min(Math.max(((o + 0.5) * 3) / 7 - 0.5, 0), 2);
      const i = Math.min(Math.floor(x), 1);
      return [i, x - i] as const;
    };
    for (let y = 0; y < 7; y++)
      for (let x = 0; x < 7; x++)
        for (let e = 0; e < E; e++) {
          const [i, fy] = lerp(y);
          const [j, fx] = lerp(x);
          const at = (a: number, b: number) => pos[(1 + a * 3 + b) * E + e] as number;
          const ref = (1 - fy) * ((1 - fx) * at(i, j) + fx * at(i, j + 1)) + fy * ((1 - fx) * at(i + 1, j) + fx * at(i + 1, j + 1));
          expect(out[(1 + y * 7 + x) * E + e]).toBeCloseTo(ref, 5);
        }
  });

  it('keeps a constant field constant and rejects a wrong length', () => {
    const pos = new Float32Array((1 + 36) * 4).fill(0.75);
    const out = resamplePosEmbed(pos, { from: [6, 6], to: [14, 14], dim: 4 });
    for (const v of out) expect(v).toBeCloseTo(0.75, 6);
    expect(() => resamplePosEmbed(pos, { from: [5, 5], to: [7, 7], dim: 4 })).toThrow(/not 1 \+ 5×5 tokens of width 4/);
    expect(squareGrid(197)).toBe(14);
    expect(squareGrid(50, 1)).toBe(7);
    expect(squareGrid(20)).toBeNull();
  });
});
