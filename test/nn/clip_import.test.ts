// CLIP's vision tower imported from small random files in Hugging Face's
// (CLIPVisionModelWithProjection) and open_clip's layouts, checked against a
// float64 CLIP forward written here from those libraries' formulas: separate
// q/k/v projections (open_clip: chunks of in_proj_weight, as
// F.multi_head_attention_forward takes them), class embedding, ln_pre,
// quick-GELU, ln_post on the class token, projection (HF: W·x; open_clip: x @ proj).
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { CLIP_MEAN, CLIP_STD, ClipVisionModel, type ClipVisionConfig, importClipVision, inferClipVision, loadClipVision, saveClipVision } from '../../src/nn/clip.js';
import { ScoreHead } from '../../src/nn/heads.js';
import { ParameterSet } from '../../src/nn/parameters.js';
import { resamplePosEmbed } from '../../src/nn/posembed.js';
import { WeightImportError } from '../../src/nn/weights.js';
import { Arena } from '../../src/tensor/arena.js';
import { readSafetensors, writeSafetensors } from '../../src/tensor/safetensors.js';
import { Rng, expectClose, relativeError, tensorOf } from '../helpers/numeric.js';

const E = 64;
const HEADS = 2;
const DEPTH = 2;
const HIDDEN = 4 * E;
const PATCH = 8;
const SIZE = 32;
const D = 32;
const N = 1 + (SIZE / PATCH) ** 2;

type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

// ---------------------------------------------------------------------------
// Random weights, written in both layouts

interface Canonical {
  conv: Float32Array;
  cls: Float32Array;
  pos: Float32Array;
  lnPre: [Float32Array, Float32Array];
  layers: {
    ln1: [Float32Array, Float32Array];
    q: [Float32Array, Float32Array];
    k: [Float32Array, Float32Array];
    v: [Float32Array, Float32Array];
    out: [Float32Array, Float32Array];
    ln2: [Float32Array, Float32Array];
    fc1: [Float32Array, Float32Array];
    fc2: [Float32Array, Float32Array];
  }[];
  lnPost: [Float32Array, Float32Array];
  proj: Float32Array; // [D, E]
}

function canonical(seed: number): Canonical {
  const rng = new Rng(seed);
  const r = (n: number, std: number, mean = 0) => Float32Array.from(rng.normals(n, std), (x) => x + mean);
  const ln = (): [Float32Array, Float32Array] => [r(E, 0.1, 1), r(E, 0.1)];
  const lin = (out: number, inp: number): [Float32Array, Float32Array] => [r(out * inp, 1 / Math.sqrt(inp)), r(out, 0.1)];
  return {
    conv: r(E * 3 * PATCH * PATCH, 0.05),
    cls: r(E, 0.5),
    pos: r(N * E, 0.2),
    lnPre: ln(),
    layers: Array.from({ length: DEPTH }, () => ({
      ln1: ln(),
      q: lin(E, E),
      k: lin(E, E),
      v: lin(E, E),
      out: lin(E, E),
      ln2: ln(),
      fc1: lin(HIDDEN, E),
      fc2: lin(E, HIDDEN),
    })),
    lnPost: ln(),
    proj: r(D * E, 1 / Math.sqrt(E)),
  };
}

function hfTensors(c: Canonical): Tensors {
  const t: Tensors = new Map();
  const v = 'vision_model.';
  const put = (name: string, shape: number[], data: Float32Array) => t.set(name, { shape, data });
  const pair = (name: string, [w, b]: [Float32Array, Float32Array], shape: number[]) => {
    put(`${name}.weight`, shape, w);
    put(`${name}.bias`, [shape[0] as number], b);
  };
  put(`${v}embeddings.class_embedding`, [E], c.cls);
  put(`${v}embeddings.patch_embedding.weight`, [E, 3, PATCH, PATCH], c.conv);
  put(`${v}embeddings.position_embedding.weight`, [N, E], c.pos);
  pair(`${v}pre_layrnorm`, c.lnPre, [E]);
  c.layers.forEach((l, i) => {
    const p = `${v}encoder.layers.${i}`;
    pair(`${p}.layer_norm1`, l.ln1, [E]);
    pair(`${p}.self_attn.q_proj`, l.q, [E, E]);
    pair(`${p}.self_attn.k_proj`, l.k, [E, E]);
    pair(`${p}.self_attn.v_proj`, l.v, [E, E]);
    pair(`${p}.self_attn.out_proj`, l.out, [E, E]);
    pair(`${p}.layer_norm2`, l.ln2, [E]);
    pair(`${p}.mlp.fc1`, l.fc1, [HIDDEN, E]);
    pair(`${p}.mlp.fc2`, l.fc2, [E, HIDDEN]);
  });
  pair(`${v}post_layernorm`, c.lnPost, [E]);
  put('visual_projection.weight', [D, E], c.proj);
  return t;
}

function openClipTensors(c: Canonical): Tensors {
  const t: Tensors = new Map();
  const put = (name: string, shape: number[], data: Float32Array) => t.set(name, { shape, data });
  const pair = (name: string, [w, b]: [Float32Array, Float32Array], shape: number[]) => {
    put(`${name}.weight`, shape, w);
    put(`${name}.bias`, [shape[0] as number], b);
  };
  put('visual.class_embedding', [E], c.cls);
  put('visual.conv1.weight', [E, 3, PATCH, PATCH], c.conv);
  put('visual.positional_embedding', [N, E], c.pos);
  pair('visual.ln_pre', c.lnPre, [E]);
  c.layers.forEach((l, i) => {
    const p = `visual.transformer.resblocks.${i}`;
    pair(`${p}.ln_1`, l.ln1, [E]);
    const w = new Float32Array(3 * E * E);
    const b = new Float32Array(3 * E);
    [l.q, l.k, l.v].forEach(([wi, bi], j) => {
      w.set(wi, j * E * E);
      b.set(bi, j * E);
    });
    put(`${p}.attn.in_proj_weight`, [3 * E, E], w);
    put(`${p}.attn.in_proj_bias`, [3 * E], b);
    pair(`${p}.attn.out_proj`, l.out, [E, E]);
    pair(`${p}.ln_2`, l.ln2, [E]);
    pair(`${p}.mlp.c_fc`, l.fc1, [HIDDEN, E]);
    pair(`${p}.mlp.c_proj`, l.fc2, [E, HIDDEN]);
  });
  pair('visual.ln_post', c.lnPost, [E]);
  const proj = new Float32Array(E * D); // [E, D]
  for (let d = 0; d < D; d++) for (let e = 0; e < E; e++) proj[e * D + d] = c.proj[d * E + e] as number;
  put('visual.proj', [E, D], proj);
  return t;
}

// ---------------------------------------------------------------------------
// The float64 reference, reading the file's own tensor names

type W = ArrayLike<number>;
interface RefWeights {
  conv: W;
  cls: W;
  pos: W;
  lnPre: [W, W];
  layers: { ln1: [W, W]; q: [W, W]; k: [W, W]; v: [W, W]; out: [W, W]; ln2: [W, W]; fc1: [W, W]; fc2: [W, W] }[];
  lnPost: [W, W];
  project: (x: Float64Array) => Float64Array;
}

function getter(t: Tensors) {
  return (name: string): Float32Array => {
    const x = t.get(name);
    if (!x) throw new Error(`reference: no '${name}'`);
    return x.data;
  };
}

function hfRef(t: Tensors): RefWeights {
  const g = getter(t);
  const v = 'vision_model.';
  const pair = (n: string): [W, W] => [g(`${n}.weight`), g(`${n}.bias`)];
  const proj = g('visual_projection.weight');
  return {
    conv: g(`${v}embeddings.patch_embedding.weight`),
    cls: g(`${v}embeddings.class_embedding`),
    pos: g(`${v}embeddings.position_embedding.weight`),
    lnPre: pair(`${v}pre_layrnorm`),
    layers: Array.from({ length: DEPTH }, (_, i) => {
      const p = `${v}encoder.layers.${i}`;
      return {
        ln1: pair(`${p}.layer_norm1`),
        q: pair(`${p}.self_attn.q_proj`),
        k: pair(`${p}.self_attn.k_proj`),
        v: pair(`${p}.self_attn.v_proj`),
        out: pair(`${p}.self_attn.out_proj`),
        ln2: pair(`${p}.layer_norm2`),
        fc1: pair(`${p}.mlp.fc1`),
        fc2: pair(`${p}.mlp.fc2`),
      };
    }),
    lnPost: pair(`${v}post_layernorm`),
    project: (x) => Float64Array.from({ length: D }, (_, d) => dot(proj, d * E, x, E)),
  };
}

function openClipRef(t: Tensors): RefWeights {
  const g = getter(t);
  const pair = (n: string): [W, W] => [g(`${n}.weight`), g(`${n}.bias`)];
  const proj = g('visual.proj'); // [E, D]: x @ proj
  return {
    conv: g('visual.conv1.weight'),
    cls: g('visual.class_embedding'),
    pos: g('visual.positional_embedding'),
    lnPre: pair('visual.ln_pre'),
    layers: Array.from({ length: DEPTH }, (_, i) => {
      const p = `visual.transformer.resblocks.${i}`;
      const w = g(`${p}.attn.in_proj_weight`);
      const b = g(`${p}.attn.in_proj_bias`);
      const chunk = (j: number): [W, W] => [w.subarray(j * E * E, (j + 1) * E * E), b.subarray(j * E, (j + 1) * E)];
      return {
        ln1: pair(`${p}.ln_1`),
        q: chunk(0),
        k: chunk(1),
        v: chunk(2),
        out: pair(`${p}.attn.out_proj`),
        ln2: pair(`${p}.ln_2`),
        fc1: pair(`${p}.mlp.c_fc`),
        fc2: pair(`${p}.mlp.c_proj`),
      };
    }),
    lnPost: pair('visual.ln_post'),
    project: (x) =>
      Float64Array.from({ length: D }, (_, d) => {
        let s = 0;
        for (let e = 0; e < E; e++) s += (x[e] as number) * (proj[e * D + d] as number);
        return s;
      }),
  };
}

function dot(w: W, offset: number, x: W, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += (w[offset + i] as number) * (x[i] as number);
  return s;
}

function layerNorm(x: Float64Array, [w, b]: [W, W]): Float64Array {
  const mean = x.reduce((a, v) => a + v, 0) / x.length;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
  const r = 1 / Math.sqrt(variance + 1e-5);
  return x.map((v, i) => (v - mean) * r * (w[i] as number) + (b[i] as number));
}

function linear(x: Float64Array, [w, b]: [W, W], out: number): Float64Array {
  return Float64Array.from({ length: out }, (_, o) => dot(w, o * x.length, x, x.length) + (b[o] as number));
}

/** CLIP image embeddings [B, D] of images [B, 3, S, S]. */
function clipRef(ref: RefWeights, images: Float32Array, B: number, S: number, pos: W = ref.pos): Float64Array {
  const g = S / PATCH;
  const T = 1 + g * g;
  const hd = E / HEADS;
  const out = new Float64Array(B * D);
  for (let b = 0; b < B; b++) {
    let x: Float64Array[] = [];
    x.push(Float64Array.from(ref.cls));
    for (let gy = 0; gy < g; gy++)
      for (let gx = 0; gx < g; gx++) {
        const emb = new Float64Array(E);
        for (let e = 0; e < E; e++) {
          let s = 0;
          for (let c = 0; c < 3; c++)
            for (let i = 0; i < PATCH; i++)
              for (let j = 0; j < PATCH; j++) {
                s += (ref.conv[((e * 3 + c) * PATCH + i) * PATCH + j] as number) * (images[((b * 3 + c) * S + gy * PATCH + i) * S + gx * PATCH + j] as number);
              }
          emb[e] = s;
        }
        x.push(emb);
      }
    x = x.map((t, i) => t.map((v, e) => v + (pos[i * E + e] as number)));
    x = x.map((t) => layerNorm(t, ref.lnPre));
    for (const l of ref.layers) {
      const h = x.map((t) => layerNorm(t, l.ln1));
      const q = h.map((t) => linear(t, l.q, E));
      const k = h.map((t) => linear(t, l.k, E));
      const v = h.map((t) => linear(t, l.v, E));
      const attn = Array.from({ length: T }, () => new Float64Array(E));
      for (let head = 0; head < HEADS; head++) {
        const o = head * hd;
        for (let i = 0; i < T; i++) {
          const s = Array.from({ length: T }, (_, j) => {
            let d = 0;
            for (let c = 0; c < hd; c++) d += (q[i]?.[o + c] as number) * (k[j]?.[o + c] as number);
            return d / Math.sqrt(hd);
          });
          const m = Math.max(...s);
          const z = s.reduce((a, v) => a + Math.exp(v - m), 0);
          const row = attn[i] as Float64Array;
          for (let j = 0; j < T; j++) {
            const p = Math.exp((s[j] as number) - m) / z;
            for (let c = 0; c < hd; c++) row[o + c] = (row[o + c] as number) + p * (v[j]?.[o + c] as number);
          }
        }
      }
      x = x.map((t, i) => {
        const a = linear(attn[i] as Float64Array, l.out, E);
        return t.map((val, e) => val + (a[e] as number));
      });
      x = x.map((t) => {
        const u = linear(layerNorm(t, l.ln2), l.fc1, HIDDEN).map((val) => val / (1 + Math.exp(-1.702 * val)));
        const y = linear(u, l.fc2, E);
        return t.map((val, e) => val + (y[e] as number));
      });
    }
    out.set(ref.project(layerNorm(x[0] as Float64Array, ref.lnPost)), b * D);
  }
  return out;
}

// ---------------------------------------------------------------------------

const root = mkdtempSync(join(tmpdir(), 'cskd-clip-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const weights = canonical(7);
const hf = hfTensors(weights);
const oc = openClipTensors(weights);

function writeModel(sub: string, file: string, tensors: Tensors, extra: Record<string, { shape: number[]; data: Float32Array }>, configs: Record<string, unknown>): string {
  const d = join(root, sub);
  mkdirSync(d, { recursive: true });
  const path = join(d, file);
  writeSafetensors(path, [...tensors, ...Object.entries(extra)]);
  for (const [name, json] of Object.entries(configs)) writeFileSync(join(d, name), JSON.stringify(json));
  return path;
}

// A full CLIP file also carries the text tower and logit_scale; HF adds a position_ids buffer.
const hfPath = writeModel(
  'hf',
  'model.safetensors',
  hf,
  {
    'text_model.embeddings.token_embedding.weight': { shape: [10, 16], data: new Float32Array(160) },
    'text_projection.weight': { shape: [D, 16], data: new Float32Array(D * 16) },
    logit_scale: { shape: [], data: Float32Array.of(4.6) },
    'vision_model.embeddings.position_ids': { shape: [1, N], data: Float32Array.from({ length: N }, (_, i) => i) },
  },
  {
    'config.json': { model_type: 'clip_vision_model', hidden_size: E, num_attention_heads: HEADS, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, image_size: SIZE, patch_size: PATCH, projection_dim: D },
  },
);
const OC_MEAN = [0.5, 0.5, 0.5];
const ocPath = writeModel(
  'open_clip',
  'open_clip_model.safetensors',
  oc,
  {
    'token_embedding.weight': { shape: [10, 16], data: new Float32Array(160) },
    'transformer.resblocks.0.ln_1.weight': { shape: [16], data: new Float32Array(16) },
    logit_scale: { shape: [], data: Float32Array.of(4.6) },
  },
  {
    'open_clip_config.json': {
      model_cfg: { embed_dim: D, quick_gelu: true, vision_cfg: { image_size: SIZE, layers: DEPTH, width: E, head_width: E / HEADS, patch_size: PATCH } },
      preprocess_cfg: { mean: OC_MEAN, std: [0.5, 0.5, 0.5] },
    },
  },
);

const EXPECTED: ClipVisionConfig = {
  imgSize: SIZE,
  patchSize: PATCH,
  inChans: 3,
  embedDim: E,
  depth: DEPTH,
  numHeads: HEADS,
  mlpRatio: 4,
  qkvBias: true,
  layerNormEps: 1e-5,
  gelu: 'quick',
  pool: 'cls',
  preNorm: true,
  projectionDim: D,
};

function images(B: number, S: number, seed: number): Float32Array {
  return Float32Array.from(new Rng(seed).normals(B * 3 * S * S));
}

function embed(model: ClipVisionModel, x: Float32Array, B: number, S: number): Float32Array {
  const ctx = { arena: new Arena('clip-test'), training: false };
  return Float32Array.from(model.forward(tensorOf(x, [B, 3, S, S]), ctx).data);
}

describe('CLIP vision import', () => {
  const B = 2;
  const x = images(B, SIZE, 11);
  const refHf = clipRef(hfRef(hf), x, B, SIZE);

  it('Hugging Face CLIPVisionModelWithProjection: config from config.json, forward matches the float64 reference', () => {
    const model = importClipVision(hfPath);
    expect(model.layout).toBe('hf');
    expect(model.config).toEqual(EXPECTED);
    expect(model.preprocessing).toEqual({ size: SIZE, mean: CLIP_MEAN, std: CLIP_STD, interpolation: 'bicubic', crop: 'center' });
    expect(model.report.zeroed).toEqual(['patch_embed.proj.bias']);
    expect(model.report.loaded.length).toBe(model.params.list.length - 1);
    const y = embed(model, x, B, SIZE);
    expectClose(y, refHf, 1e-5, 'HF CLIP embeddings');
    // The reference tells activations apart: erf-GELU in place of quick-GELU is far off.
    expect(relativeError(embed(importClipVision(hfPath, { gelu: 'erf' }), x, B, SIZE), refHf)).toBeGreaterThan(1e-3);
    // The file's q/k/v sit stacked in our qkv.
    const qkv = model.params.get('blocks.1.attn.qkv.weight').value.data;
    expect(qkv.subarray(E * E, 2 * E * E)).toEqual(hf.get('vision_model.encoder.layers.1.self_attn.k_proj.weight')?.data);
  });

  it('open_clip: same weights give the same embeddings; preprocessing from open_clip_config.json', () => {
    const model = importClipVision(ocPath);
    expect(model.layout).toBe('open_clip');
    expect(model.config).toEqual(EXPECTED);
    expect(model.preprocessing.mean).toEqual(OC_MEAN);
    const y = embed(model, x, B, SIZE);
    const refOc = clipRef(openClipRef(oc), x, B, SIZE);
    expectClose(y, refOc, 1e-5, 'open_clip embeddings');
    expect(y).toEqual(embed(importClipVision(hfPath), x, B, SIZE));
  });

  it('exports back to either layout, tensor for tensor', () => {
    const model = importClipVision(hfPath);
    for (const [layout, tensors] of [
      ['open_clip', oc],
      ['hf', hf],
    ] as const) {
      const path = join(root, `export-${layout}.safetensors`);
      saveClipVision(model, path, layout);
      const file = readSafetensors(path);
      expect(new Set(file.tensors.keys())).toEqual(new Set(tensors.keys()));
      for (const [name, t] of tensors) {
        const got = file.tensors.get(name);
        expect(got?.shape, name).toEqual(t.shape);
        expect(got && Buffer.from(got.data.buffer).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), name).toBe(true);
      }
    }
  });

  it('without config files: 64-wide heads and quick-GELU by default, overridable', () => {
    const bare = join(root, 'bare');
    mkdirSync(bare);
    const path = join(bare, 'model.safetensors');
    copyFileSync(hfPath, path);
    expect(inferClipVision(path).config).toEqual({ ...EXPECTED, numHeads: 1 });
    expect(inferClipVision(path, { gelu: 'erf' }).config.gelu).toBe('erf');
    const model = importClipVision(path, { numHeads: HEADS });
    expectClose(embed(model, x, B, SIZE), refHf, 1e-5, 'embeddings with numHeads given');
  });

  it('runs at another image size by resampling the position embedding', () => {
    const S = 48;
    const model = importClipVision(ocPath, { imgSize: S });
    expect(model.config.imgSize).toBe(S);
    expect(model.preprocessing.size).toBe(S);
    expect(model.report.resized).toEqual([{ param: 'pos_embed', from: 4, to: 6 }]);
    const pos = resamplePosEmbed(weights.pos, { from: [4, 4], to: [6, 6], dim: E });
    const x48 = images(1, S, 12);
    expectClose(embed(model, x48, 1, S), clipRef(openClipRef(oc), x48, 1, S, pos), 1e-5, 'embeddings at 48 px');
  });

  it('loads into a set shared with a score head, and trains through the projection', () => {
    const params = new ParameterSet();
    const model = new ClipVisionModel(params, EXPECTED);
    const head = new ScoreHead(params, D, 10, DEPTH + 2);
    loadClipVision(model, hfPath);
    expect(params.has(head.linear.weight.name)).toBe(true);
    const ctx = { arena: new Arena('clip-train'), training: true };
    const xt = tensorOf(x, [B, 3, SIZE, SIZE]);
    const features = Float64Array.from(model.encoder.forward(xt, { arena: new Arena('f'), training: false }).data);
    const yv = model.forward(xt, ctx);
    params.zeroGrad();
    model.backward(tensorOf(new Float32Array(yv.size).fill(1), yv.shape), ctx);
    // d(sum y)/dW[d, e] = sum_b features[b, e] for every d.
    const want = Float64Array.from({ length: D * E }, (_, i) => (features[i % E] as number) + (features[E + (i % E)] as number));
    expectClose(model.projection.weight.grad.data, want, 1e-6, 'projection gradient');
    expect(model.encoder.clsToken.grad.data.some((g) => g !== 0)).toBe(true);
  });

  it('one error names each mis-shaped and missing tensor with both shapes', () => {
    const broken: Tensors = new Map(hf);
    broken.set('vision_model.encoder.layers.1.self_attn.q_proj.weight', { shape: [E, 32], data: new Float32Array(E * 32) });
    broken.delete('vision_model.encoder.layers.0.layer_norm2.bias');
    broken.set('vision_model.encoder.layers.0.self_attn.rel_bias', { shape: [4], data: new Float32Array(4) });
    const path = writeModel('broken', 'model.safetensors', broken, {}, { 'config.json': { num_attention_heads: HEADS } });
    let err: unknown;
    try {
      importClipVision(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WeightImportError);
    const e = err as WeightImportError;
    expect(e.problems).toEqual([
      'vision_model.encoder.layers.0.layer_norm2.bias: missing (for blocks.0.norm2.bias [64])',
      'vision_model.encoder.layers.1.self_attn.q_proj.weight: shape [64, 32] in the file, expected [64, 64] (a 1/3 part of blocks.1.attn.qkv.weight [192, 64])',
      'vision_model.encoder.layers.0.self_attn.rel_bias: unexpected tensor [4] (no parameter of ours maps to it)',
    ]);
    expect(e.message.startsWith(`${path}: cannot import Hugging Face CLIP vision weights; 3 problem(s):`)).toBe(true);

    const notClip = writeModel('not-clip', 'model.safetensors', new Map([['pos_embed', { shape: [1, N, E], data: new Float32Array(N * E) }]]), {}, {});
    expect(() => importClipVision(notClip)).toThrow(/neither 'vision_model\.embeddings\.class_embedding' \(Hugging Face\) nor 'visual\.class_embedding'/);
  });
});
