import { describe, expect, it } from 'vitest';

import { hashSeed } from '../../src/util/rng.js';
import {
  CLIP_NORMALIZATION,
  heavyView,
  normalizeToChw,
  randomResizedCrop,
  resizeShorter,
  roundHalfEven,
  sampleViewParams,
  strongView,
  weakView,
} from '../../src/data/transforms.js';
import { Rng } from '../helpers/numeric.js';

describe('Rng', () => {
  it('is mulberry32: matches the test helpers’ independent copy', () => {
    const a = new Rng(12345);
    const b = new Rng(12345);
    for (let i = 0; i < 100; i++) expect(a.uniform()).toBe(b.uniform());
  });
  it('keys (seed, epoch, index, stream) give distinct, repeatable streams', () => {
    expect(Rng.for(1, 2, 3).uniform()).toBe(Rng.for(1, 2, 3).uniform());
    const firsts = new Set<number>();
    for (let e = 0; e < 4; e++) for (let i = 0; i < 50; i++) for (let s = 0; s < 2; s++) firsts.add(Rng.for(7, e, i, s).uniform());
    expect(firsts.size).toBe(400);
    expect(hashSeed(1, 2)).not.toBe(hashSeed(2, 1));
  });
  it('shuffle is a permutation and uniform-ish: each position sees each value about equally', () => {
    const n = 5;
    const counts = Array.from({ length: n }, () => new Array<number>(n).fill(0));
    for (let t = 0; t < 5000; t++) {
      const p = Rng.for(3, t, 0).shuffle([0, 1, 2, 3, 4]);
      expect([...p].sort()).toEqual([0, 1, 2, 3, 4]);
      p.forEach((v, pos) => counts[pos]![v]!++);
    }
    // Expected 1000 each; binomial sd ≈ 28, so ±150 is > 5 sd.
    for (const row of counts) for (const c of row) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });
});

describe('torchvision geometry', () => {
  it('roundHalfEven is Python round()', () => {
    expect([0.5, 1.5, 2.5, 58.5, 59.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, 58, 60, 2, 3]);
  });
  it('Resize(256) of 500×375 is 341×256; of 375×500 is 256×341', () => {
    expect(resizeShorter(500, 375, 256)).toEqual({ width: 341, height: 256 });
    expect(resizeShorter(375, 500, 256)).toEqual({ width: 256, height: 341 });
    expect(resizeShorter(300, 300, 224)).toEqual({ width: 224, height: 224 });
  });
  it('centre crop 224 from 341×256 starts at (58, 16), as int(round(117/2)) = 58 in Python', () => {
    const spec = { ...weakView(224), geometry: { kind: 'center' as const, resize: 256 }, flipProbability: 0 };
    const p = sampleViewParams(spec, 500, 375, new Rng(0));
    expect(p.resizeTo).toEqual({ width: 341, height: 256 });
    expect(p.crop).toEqual({ left: 58, top: 16, width: 224, height: 224 });
    expect(p.flip).toBe(false);
  });
  it('random resized crops stay inside the image, within scale and ratio (up to rounding)', () => {
    for (let i = 0; i < 500; i++) {
      const W = 200 + (i % 7) * 50;
      const H = 150 + (i % 5) * 40;
      const c = randomResizedCrop(W, H, [0.3, 0.9], [3 / 4, 4 / 3], Rng.for(0, 0, i));
      expect(c.left >= 0 && c.top >= 0 && c.left + c.width <= W && c.top + c.height <= H).toBe(true);
      const frac = (c.width * c.height) / (W * H);
      expect(frac).toBeGreaterThan(0.3 - 0.02);
      expect(frac).toBeLessThan(0.9 + 0.02);
      const r = c.width / c.height;
      expect(r).toBeGreaterThan(0.75 - 0.02);
      expect(r).toBeLessThan(4 / 3 + 0.02);
    }
  });
  it('falls back to a clamped centre crop when no try fits (1000×10, square crops of ≥ 90%)', () => {
    expect(randomResizedCrop(1000, 10, [0.9, 1], [1, 1], new Rng(1))).toEqual({ left: 495, top: 0, width: 10, height: 10 });
  });
  it('views are a pure function of (seed, epoch, index, stream)', () => {
    const s = strongView(224);
    const a = sampleViewParams(s, 640, 480, Rng.for(5, 1, 17, 1));
    const b = sampleViewParams(s, 640, 480, Rng.for(5, 1, 17, 1));
    const c = sampleViewParams(s, 640, 480, Rng.for(5, 2, 17, 1));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });
  it('the default strong view crops 80–100% of the shorter-side square, aspect within 10%, and varies; heavy jitters colour', () => {
    const lefts = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const p = sampleViewParams(strongView(), 640, 480, Rng.for(0, 0, i));
      const frac = (p.crop.width * p.crop.height) / (480 * 480);
      expect(frac).toBeGreaterThan(0.79);
      expect(frac).toBeLessThan(1.01);
      expect(p.crop.width / p.crop.height).toBeLessThan(1.1 + 0.01);
      expect(p.crop.width / p.crop.height).toBeGreaterThan(1 / 1.1 - 0.01);
      lefts.add(p.crop.left);
      expect(p.brightness).toBe(1);
      const h = sampleViewParams(heavyView(), 640, 480, Rng.for(0, 0, i));
      expect(h.brightness).toBeGreaterThanOrEqual(0.8);
      expect(h.brightness).toBeLessThanOrEqual(1.2);
    }
    expect(lefts.size).toBeGreaterThan(50); // not one fallback crop over and over
  });
});

describe('normalizeToChw', () => {
  it('writes (x/255 − mean)/std per channel plane at an offset', () => {
    const rgb = new Uint8Array([0, 128, 255, 10, 20, 30]); // 2×1
    const out = normalizeToChw(rgb, 2, 1, CLIP_NORMALIZATION, new Float32Array(8).fill(NaN), 2);
    const [m, s] = [CLIP_NORMALIZATION.mean, CLIP_NORMALIZATION.std];
    const expected = [NaN, NaN, (0 / 255 - m[0]) / s[0], (10 / 255 - m[0]) / s[0], (128 / 255 - m[1]) / s[1], (20 / 255 - m[1]) / s[1], (255 / 255 - m[2]) / s[2], (30 / 255 - m[2]) / s[2]];
    expected.forEach((v, i) => (Number.isNaN(v) ? expect(out[i]).toBeNaN() : expect(out[i]).toBeCloseTo(v, 5)));
  });
});
