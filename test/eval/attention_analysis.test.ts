// analyzeAttention against an independent float64 forward of a tiny ViT: the
// attention maps are recomputed from the model's weights and the docs/design.md
// formulas (patch rows and columns of the softmax over all tokens, not
// renormalised), then averaged over the images.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { ImageLoader } from '../../src/data/loader.js';
import { evalView } from '../../src/data/transforms.js';
import { analyzeAttention, uniformAttentionStats } from '../../src/eval/attention_analysis.js';
import { initParameters } from '../../src/nn/init.js';
import { ParameterSet } from '../../src/nn/parameters.js';
import { VIT_DEFAULTS, VisionTransformer, type VitConfig } from '../../src/nn/vit.js';
import { Rng } from '../../src/util/rng.js';
import { encodePng, tempDir } from '../data/images.js';
import { geluRef, layerNormRef } from '../helpers/reference.js';

const tiny: VitConfig = { ...VIT_DEFAULTS, imgSize: 16, patchSize: 4, embedDim: 16, depth: 2, numHeads: 2, gelu: 'erf' };

const paramsOf = new WeakMap<VisionTransformer, ParameterSet>();

function buildVit(config: VitConfig, seed: number): VisionTransformer {
  const params = new ParameterSet();
  const vit = new VisionTransformer(params, config);
  paramsOf.set(vit, params);
  initParameters(params, new Rng(seed));
  // Larger weights than the init, so heads attend differently from each other and from uniform.
  const rng = new Rng(seed + 100);
  for (const p of params.list) if (p.shape.length >= 2 || p.name.includes('pos_embed')) p.value.data.forEach((_, i, d) => (d[i] = (rng.uniform() * 2 - 1) * 0.5));
  return vit;
}

/** y[n, out] = x[n, in] · W[out, in]ᵀ + b, in float64. */
function linear(x: Float64Array, n: number, W: Float32Array, b: Float32Array | null, inF: number, outF: number): Float64Array {
  const y = new Float64Array(n * outF);
  for (let r = 0; r < n; r++)
    for (let o = 0; o < outF; o++) {
      let s = b ? (b[o] as number) : 0;
      for (let i = 0; i < inF; i++) s += (x[r * inF + i] as number) * (W[o * inF + i] as number);
      y[r * outF + o] = s;
    }
  return y;
}

/** Per layer and head, distance and entropy of one image [3, S, S], from a float64 forward. */
function referenceStats(vit: VisionTransformer, image: Float32Array, patchPx: number): { distance: number[][]; entropy: number[][] } {
  const c = vit.config;
  const p = c.patchSize;
  const g = c.imgSize / p;
  const P = g * g;
  const N = P + 1;
  const E = c.embedDim;
  const H = c.numHeads;
  const D = E / H;
  const params = paramsOf.get(vit) as ParameterSet;
  const get = (name: string) => params.get(name).value.data;
  // Patch embedding (conv weight order [E, C, p, p]), CLS, position embeddings.
  const x = new Float64Array(N * E);
  const Wp = vit.patchWeight.value.data;
  const bp = vit.patchBias.value.data;
  const pos = vit.posEmbed.value.data;
  for (let e = 0; e < E; e++) x[e] = (vit.clsToken.value.data[e] as number) + (pos[e] as number);
  for (let gy = 0; gy < g; gy++)
    for (let gx = 0; gx < g; gx++) {
      const t = 1 + gy * g + gx;
      for (let e = 0; e < E; e++) {
        let s = bp[e] as number;
        for (let ch = 0; ch < 3; ch++)
          for (let dy = 0; dy < p; dy++)
            for (let dx = 0; dx < p; dx++) {
              s += (Wp[((e * 3 + ch) * p + dy) * p + dx] as number) * (image[(ch * c.imgSize + gy * p + dy) * c.imgSize + gx * p + dx] as number);
            }
        x[t * E + e] = s + (pos[t * E + e] as number);
      }
    }
  const distance: number[][] = [];
  const entropy: number[][] = [];
  for (let l = 0; l < c.depth; l++) {
    const b = `blocks.${l}.`;
    const h1 = layerNormRef(x, get(`${b}norm1.weight`), get(`${b}norm1.bias`), N, E, c.layerNormEps).y;
    const qkv = linear(h1, N, get(`${b}attn.qkv.weight`), get(`${b}attn.qkv.bias`), E, 3 * E);
    const out = new Float64Array(N * E);
    const dl: number[] = [];
    const el: number[] = [];
    for (let h = 0; h < H; h++) {
      let dsum = 0;
      let esum = 0;
      for (let i = 0; i < N; i++) {
        const s = new Float64Array(N);
        for (let j = 0; j < N; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += (qkv[i * 3 * E + h * D + d] as number) * (qkv[j * 3 * E + E + h * D + d] as number);
          s[j] = dot / Math.sqrt(D);
        }
        const m = Math.max(...s);
        let z = 0;
        for (let j = 0; j < N; j++) z += Math.exp((s[j] as number) - m);
        for (let j = 0; j < N; j++) {
          const a = Math.exp((s[j] as number) - m) / z;
          for (let d = 0; d < D; d++) out[i * E + h * D + d] = (out[i * E + h * D + d] as number) + a * (qkv[j * 3 * E + 2 * E + h * D + d] as number);
          if (i === 0 || j === 0) continue; // statistics over patch rows and columns only
          const [yi, xi] = [Math.floor((i - 1) / g), (i - 1) % g];
          const [yj, xj] = [Math.floor((j - 1) / g), (j - 1) % g];
          dsum += a * patchPx * Math.sqrt((yi - yj) ** 2 + (xi - xj) ** 2);
          esum -= a * Math.log(a);
        }
      }
      dl.push(dsum / P);
      el.push(esum / P);
    }
    distance.push(dl);
    entropy.push(el);
    const y = linear(out, N, get(`${b}attn.proj.weight`), get(`${b}attn.proj.bias`), E, E);
    for (let i = 0; i < N * E; i++) x[i] = (x[i] as number) + (y[i] as number);
    const h2 = layerNormRef(x, get(`${b}norm2.weight`), get(`${b}norm2.bias`), N, E, c.layerNormEps).y;
    const hidden = Math.round(E * c.mlpRatio);
    const u = linear(h2, N, get(`${b}mlp.fc1.weight`), get(`${b}mlp.fc1.bias`), E, hidden).map((v) => geluRef(v, c.gelu));
    const m = linear(u, N, get(`${b}mlp.fc2.weight`), get(`${b}mlp.fc2.bias`), hidden, E);
    for (let i = 0; i < N * E; i++) x[i] = (x[i] as number) + (m[i] as number);
  }
  return { distance, entropy };
}

/** Writes `count` random RGB PNGs (not square, so the eval view's resize and crop run). */
function writeImages(dir: string, count: number, seed: number): string[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, (_, n) => {
    const px: number[] = [];
    for (let j = 0; j < 20 * 18 * 3; j++) px.push(Math.floor(rng.uniform() * 256));
    const path = join(dir, `img${n}.png`);
    writeFileSync(path, encodePng(px, 20, 18, 2, 8));
    return path;
  });
}

/** The normalised model inputs of the images, as the loader makes them (the reference starts from these pixels). */
async function inputs(paths: string[], size: number): Promise<Float32Array[]> {
  const loader = new ImageLoader(paths.map((path) => ({ path })), { batchSize: 1, views: [evalView(size)], seed: 0, shuffle: false });
  const out: Float32Array[] = [];
  for await (const b of loader.epoch(0)) out.push(Float32Array.from(b.images[0] as Float32Array));
  return out;
}

function meanOver(stats: { distance: number[][]; entropy: number[][] }[], key: 'distance' | 'entropy'): number[][] {
  const first = stats[0] as { distance: number[][]; entropy: number[][] };
  return first[key].map((row, l) => row.map((_, h) => stats.reduce((s, x) => s + (x[key][l]?.[h] as number), 0) / stats.length));
}

function expectClose(actual: number[][], expected: number[][], atol: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, l) => {
    expect(row.length).toBe((expected[l] as number[]).length);
    row.forEach((v, h) => {
      const e = (expected[l] as number[])[h] as number;
      if (!(Math.abs(v - e) <= atol + 1e-4 * Math.abs(e))) throw new Error(`layer ${l + 1} head ${h}: got ${v}, expected ${e}`);
    });
  });
}

describe('analyzeAttention', () => {
  it('matches a float64 forward with the docs/design.md formulas, averaged over the images, for encoders of different sizes at once', async () => {
    const { dir, cleanup } = tempDir('cskd-attn-');
    try {
      const paths = writeImages(dir, 3, 7);
      const a = buildVit(tiny, 1);
      const smallCfg: VitConfig = { ...tiny, imgSize: 12, depth: 3, numHeads: 4 };
      const b = buildVit(smallCfg, 2);
      // batchSize 2 over 3 images: a full batch and a short one.
      const result = await analyzeAttention([{ name: 'a', encoder: a }, { name: 'b', encoder: b }], paths, { batchSize: 2 });
      expect(result.models.map((m) => [m.name, m.depth, m.heads, m.images, m.patchPx])).toEqual([
        ['a', 2, 2, 3, 4],
        ['b', 3, 4, 3, 4],
      ]);
      for (const [m, vit] of [[result.models[0], a], [result.models[1], b]] as const) {
        const imgs = await inputs(paths, vit.config.imgSize);
        const refs = imgs.map((img) => referenceStats(vit, img, 4));
        expectClose(m!.distance, meanOver(refs, 'distance'), 1e-4);
        expectClose(m!.entropy, meanOver(refs, 'entropy'), 1e-4);
        // The check has teeth: heads differ from each other by far more than the tolerance.
        const d0 = m!.distance[0] as number[];
        expect(Math.abs((d0[0] as number) - (d0[1] as number))).toBeGreaterThan(1e-2);
      }
    } finally {
      cleanup();
    }
  });

  it('scales distances (not entropies) with patchPx and leaves bad files out of the averages', async () => {
    const { dir, cleanup } = tempDir('cskd-attn-');
    try {
      const paths = writeImages(dir, 2, 11);
      const bad = join(dir, 'broken.png');
      writeFileSync(bad, 'not an image');
      const vit = buildVit(tiny, 3);
      const imgs = await inputs(paths, tiny.imgSize);
      const refs = imgs.map((img) => referenceStats(vit, img, 10));
      const r = await analyzeAttention([{ name: 'x', encoder: vit }], [paths[0] as string, bad, paths[1] as string], { patchPx: 10, batchSize: 4 });
      expect(Object.keys(r.skipped)).toEqual([bad]);
      expect(r.models[0]?.images).toBe(2);
      expectClose(r.models[0]!.distance, meanOver(refs, 'distance'), 2.5e-4);
      expectClose(r.models[0]!.entropy, meanOver(refs, 'entropy'), 1e-4);
    } finally {
      cleanup();
    }
  });

  it('gives the uniform-attention reference of the formulas (brute force over token pairs)', () => {
    for (const [gh, gw, px] of [[2, 2, 16], [3, 5, 8], [14, 14, 16]] as const) {
      const N = gh * gw + 1;
      let d = 0;
      for (let i = 0; i < gh * gw; i++)
        for (let j = 0; j < gh * gw; j++) d += (1 / N) * px * Math.hypot(Math.floor(i / gw) - Math.floor(j / gw), (i % gw) - (j % gw));
      const u = uniformAttentionStats(gh, gw, px);
      expect(u.distance).toBeCloseTo(d / (gh * gw), 9);
      // Each patch row: gh·gw columns of −(1/N) log(1/N).
      expect(u.entropy).toBeCloseTo(((gh * gw) / N) * Math.log(N), 12);
    }
    // 2×2 grid by hand: each patch has two neighbours at 1 and one at √2.
    expect(uniformAttentionStats(2, 2, 1).distance).toBeCloseTo((2 + Math.SQRT2) / 5, 12);
  });

  it('rejects empty inputs', async () => {
    await expect(analyzeAttention([], ['x.png'])).rejects.toThrow(/no encoders/);
    await expect(analyzeAttention([{ name: 'a', encoder: buildVit(tiny, 1) }], [])).rejects.toThrow(/no images/);
  });
});
