// The addon's view renderer for cached raw pixels, against a float64
// reference of the same resampling written out here, and against sharp.
import { describe, expect, it } from 'vitest';

import { type SourceImage, renderView, viewAxes, viewPipeline } from '../../src/data/decode.js';
import { CLIP_NORMALIZATION, type ViewParams, type ViewSpec, evalView, normalizeToChw, sampleViewParams, strongView } from '../../src/data/transforms.js';
import { native } from '../../src/native.js';
import { Rng } from '../../src/util/rng.js';

/** Keys' cubic with a = −0.5 (Catmull-Rom). */
function cubic(t: number): number {
  t = Math.abs(t);
  if (t < 1) return 1.5 * t ** 3 - 2.5 * t ** 2 + 1;
  if (t < 2) return -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2;
  return 0;
}

/** Weights over source indices for output o of one axis (float64, clamped at [lo, hi]). */
function axisWeights(origin: number, step: number, lo: number, hi: number, o: number): Map<number, number> {
  const widen = Math.max(1, step);
  const c = origin + (o + 0.5) * step - 0.5;
  const raw: [number, number][] = [];
  for (let i = Math.floor(c - 2 * widen) - 1; i <= Math.ceil(c + 2 * widen) + 1; i++) raw.push([i, cubic((i - c) / widen)]);
  const sum = raw.reduce((a, [, w]) => a + w, 0);
  const m = new Map<number, number>();
  for (const [i, w] of raw) {
    const k = Math.min(hi, Math.max(lo, i));
    m.set(k, (m.get(k) ?? 0) + w / sum);
  }
  return m;
}

/** Reference: [3, S, S] of 8-bit levels (before normalisation). */
function reference(rgb: Uint8Array, W: number, H: number, axes: Float64Array, S: number, flip: boolean): Float64Array {
  const [xo, xs, xlo, xhi, yo, ys, ylo, yhi] = Array.from(axes) as number[];
  const out = new Float64Array(3 * S * S);
  for (let oy = 0; oy < S; oy++) {
    const wy = axisWeights(yo!, ys!, ylo!, yhi!, oy);
    for (let ox = 0; ox < S; ox++) {
      const wx = axisWeights(xo!, xs!, xlo!, xhi!, ox);
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (const [y, a] of wy) for (const [x, b] of wx) acc += a * b * rgb[(y * W + x) * 3 + c]!;
        out[c * S * S + oy * S + (flip ? S - 1 - ox : ox)] = Math.round(Math.min(255, Math.max(0, acc)));
      }
    }
  }
  return out;
}

function randomImage(W: number, H: number, seed: number): Uint8Array {
  const r = new Rng(seed);
  // Smooth structure plus noise, so both flat and sharp regions are exercised.
  const px = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) px[(y * W + x) * 3 + c] = Math.round(Math.min(255, Math.max(0, 128 + 90 * Math.sin(x / (3 + c) + y / 5) + 40 * (r.uniform() - 0.5))));
  return px;
}

function source(px: Uint8Array, W: number, H: number): SourceImage {
  return { path: 'raw', buffer: Buffer.from(px.buffer, px.byteOffset, px.length), format: 'raw', width: W, height: H, maxPixels: 1e9, raw: { width: W, height: H, channels: 3 } };
}

const levels = (v: Float32Array, spec: ViewSpec): Float64Array => {
  const S = spec.size;
  const out = new Float64Array(v.length);
  for (let c = 0; c < 3; c++) for (let i = 0; i < S * S; i++) out[c * S * S + i] = (v[c * S * S + i]! * spec.normalization.std[c]! + spec.normalization.mean[c]!) * 255;
  return out;
};

describe('renderRawView (cached views in the addon)', () => {
  const W = 37;
  const H = 29;
  const px = randomImage(W, H, 5);
  const cases: { name: string; spec: ViewSpec; params: ViewParams }[] = [
    { name: 'centre, upscaling', spec: evalView(40), params: sampleViewParams(evalView(40), W, H, new Rng(1)) },
    { name: 'centre, downscaling', spec: evalView(12), params: sampleViewParams(evalView(12), W, H, new Rng(1)) },
    { name: 'crop shrunk 2.5x, flipped', spec: strongView(10), params: { resizeTo: null, crop: { left: 3, top: 2, width: 25, height: 25 }, flip: true, brightness: 1, saturation: 1 } },
    { name: 'crop near the corner, enlarged', spec: strongView(16), params: { resizeTo: null, crop: { left: 30, top: 20, width: 7, height: 9 }, flip: false, brightness: 1, saturation: 1 } },
  ];
  for (const { name, spec, params } of cases) {
    it(`matches a float64 reference: ${name}`, async () => {
      const S = spec.size;
      const axes = viewAxes(W, H, S, params);
      const n = spec.normalization;
      const out = new Float32Array(3 * S * S + 5);
      await native.renderRawView(px, W, H, axes, S, params.flip, Float64Array.of(...n.mean, ...n.std), out, 5);
      const got = levels(out.subarray(5), spec);
      const ref = reference(px, W, H, axes, S, params.flip);
      let exact = 0;
      let worst = 0;
      ref.forEach((r, i) => {
        const d = Math.abs(got[i]! - r);
        worst = Math.max(worst, d);
        if (d < 1e-3) exact++;
      });
      // float32 sums may round the other way at a half level; nothing else differs.
      expect(worst).toBeLessThan(1 + 1e-3);
      expect(exact / ref.length).toBeGreaterThan(0.99);
      expect(out.subarray(0, 5).every((v) => v === 0)).toBe(true);
    });
  }

  it('is close to the sharp pipeline it replaces for cached images', async () => {
    const src = source(px, W, H);
    for (const spec of [evalView(24), strongView(24)]) {
      for (let seed = 0; seed < 4; seed++) {
        const params = sampleViewParams(spec, W, H, new Rng(seed));
        if (params.flip) continue; // sharp mirrors before cropping, a one-pixel shift for odd margins
        const got = levels(await renderView(src, spec, new Rng(seed)), spec);
        const rgb = (await viewPipeline(src, spec, params).toBuffer({ resolveWithObject: true })).data;
        const ref = levels(normalizeToChw(rgb, spec.size, spec.size, CLIP_NORMALIZATION), spec);
        const diffs = Array.from(ref, (r, i) => Math.abs(r - got[i]!)).sort((a, b) => a - b);
        const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
        expect(mean).toBeLessThan(1.5);
        expect(diffs[Math.floor(0.99 * diffs.length)]!).toBeLessThanOrEqual(6);
      }
    }
  });

  it('refuses arguments that would read or write outside its arrays', () => {
    const norm = Float64Array.of(0, 0, 0, 1, 1, 1);
    const out = new Float32Array(3 * 4 * 4);
    expect(() => native.renderRawView(px, W, H, Float64Array.of(0, 1, 0, W, 0, 1, 0, H - 1), 4, false, norm, out, 0)).toThrow(/inside the image/);
    expect(() => native.renderRawView(px, W + 1, H, Float64Array.of(0, 1, 0, 3, 0, 1, 0, 3), 4, false, norm, out, 0)).toThrow(/fewer than/);
    expect(() => native.renderRawView(px, W, H, Float64Array.of(0, 1, 0, 3, 0, 1, 0, 3), 4, false, norm, out, 1)).toThrow(/out holds/);
    expect(() => native.renderRawView(px, W, H, Float64Array.of(0, 0, 0, 3, 0, 1, 0, 3), 4, false, norm, out, 0)).toThrow(/steps/);
  });
});
