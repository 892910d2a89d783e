// timm / Hugging Face ViT import and export, and the safetensors reader and
// writer they stand on (F16/BF16/F64 decoding, atomic write).
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { ScoreHead } from '../../src/nn/heads.js';
import { ParameterSet } from '../../src/nn/parameters.js';
import { resamplePosEmbed } from '../../src/nn/posembed.js';
import { VIT_DEFAULTS, VisionTransformer, type VitConfig } from '../../src/nn/vit.js';
import { WeightImportError, inferVitConfig, loadTimmVit, saveTimmVit } from '../../src/nn/weights.js';
import { Arena } from '../../src/tensor/arena.js';
import { type SafetensorsFile, parseSafetensors, readSafetensors, writeSafetensors } from '../../src/tensor/safetensors.js';
import { Golden, goldenVitConfig } from '../helpers/golden.js';
import { Rng, expectClose } from '../helpers/numeric.js';

const dir = mkdtempSync(join(tmpdir(), 'cskd-weights-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SMALL: VitConfig = { ...VIT_DEFAULTS, imgSize: 32, patchSize: 8, embedDim: 32, depth: 2, numHeads: 2, mlpRatio: 2 };

function randomVit(config: VitConfig, seed: number, head = true) {
  const params = new ParameterSet();
  const vit = new VisionTransformer(params, config);
  if (head) new ScoreHead(params, config.embedDim, 10, config.depth + 1);
  const rng = new Rng(seed);
  params.values.data.set(rng.normals(params.values.size, 0.5));
  return { params, vit };
}

function encoderNames(params: ParameterSet): string[] {
  return params.list.map((p) => p.name).filter((n) => !n.startsWith('head.'));
}

describe('safetensors', () => {
  it('decodes F16, BF16 and F64 to float32 (hand-encoded values)', () => {
    // F16: 1, −2, 0.5, 65504 (max), 2^−24 (smallest subnormal), +inf. BF16: 1, −2, 3.140625. F64: 0.1, −1e30.
    const f16 = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00];
    const bf16 = [0x3f80, 0xc000, 0x4049];
    const f64 = [0.1, -1e30];
    const data = new Uint8Array(2 * f16.length + 2 * bf16.length + 8 * f64.length);
    const dv = new DataView(data.buffer);
    f16.forEach((h, i) => dv.setUint16(2 * i, h, true));
    bf16.forEach((h, i) => dv.setUint16(12 + 2 * i, h, true));
    f64.forEach((x, i) => dv.setFloat64(18 + 8 * i, x, true));
    const header = JSON.stringify({
      a: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 12] },
      b: { dtype: 'BF16', shape: [3], data_offsets: [12, 18] },
      c: { dtype: 'F64', shape: [2], data_offsets: [18, 34] },
    });
    const hb = new TextEncoder().encode(header);
    const bytes = new Uint8Array(8 + hb.length + data.length);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(hb.length), true);
    bytes.set(hb, 8);
    bytes.set(data, 8 + hb.length);
    const file = parseSafetensors(bytes);
    expect(file.tensors.get('a')?.dtype).toBe('F16');
    expect(Array.from(file.tensors.get('a')?.data ?? [])).toEqual([1, -2, 0.5, 65504, 2 ** -24, Infinity]);
    expect(Array.from(file.tensors.get('b')?.data ?? [])).toEqual([1, -2, 3.140625]);
    expect(Array.from(file.tensors.get('c')?.data ?? [])).toEqual([Math.fround(0.1), Math.fround(-1e30)]);
    // The positioned reader and `select` give the same.
    const path = join(dir, 'halves.safetensors');
    writeFileSync(path, bytes);
    const sel = readSafetensors(path, { select: (n) => n !== 'c' });
    expect([...sel.tensors.keys()]).toEqual(['a', 'b']);
    expect(sel.tensors.get('b')?.data).toEqual(file.tensors.get('b')?.data);
    expect(() => parseSafetensors(bytes.subarray(0, bytes.length - 1))).toThrow(/'c' byte range \[18, 34\) does not fit F64 \[2\]/);
  });

  it('writes atomically: 8-byte aligned data, metadata, no temp file left', () => {
    const path = join(dir, 'w.safetensors');
    const a = Float32Array.from([1, 2, 3, 4, 5, 6]);
    writeSafetensors(path, [['x', { shape: [2, 3], data: a }], ['y', { shape: [1], data: Float32Array.of(-7) }]], { config: '{"k":1}' });
    writeSafetensors(path, [['x', { shape: [2, 3], data: a }], ['y', { shape: [1], data: Float32Array.of(-8) }]], { config: '{"k":2}' });
    expect(readdirSync(dir).filter((n) => n.includes('w.safetensors'))).toEqual(['w.safetensors']);
    const bytes = readFileSync(path);
    const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    expect(headerLen % 8).toBe(0);
    const file = readSafetensors(path);
    expect(file.metadata).toEqual({ config: '{"k":2}' });
    expect(file.tensors.get('x')).toEqual({ dtype: 'F32', shape: [2, 3], data: a });
    expect(Array.from(file.tensors.get('y')?.data ?? [])).toEqual([-8]);
    expect(() => writeSafetensors(path, [['z', { shape: [2], data: a }]])).toThrow(/'z' has 6 values for shape \[2\]/);
  });
});

describe('timm ViT weights', () => {
  it('round trip: export writes timm names, import restores every value exactly, the head is left alone', () => {
    const { params } = randomVit(SMALL, 1);
    const path = join(dir, 'timm.safetensors');
    saveTimmVit(params, path, { metadata: { arch: 'test' } });
    const file = readSafetensors(path);
    expect(new Set(file.tensors.keys())).toEqual(new Set(encoderNames(params)));
    expect(file.tensors.get('blocks.1.attn.qkv.weight')?.shape).toEqual([96, 32]);
    expect(file.tensors.get('pos_embed')?.shape).toEqual([1, 17, 32]);
    expect(file.metadata).toEqual({ arch: 'test' });

    const fresh = randomVit(SMALL, 2).params;
    const headBefore = Float32Array.from(fresh.get('head.weight').value.data);
    const report = loadTimmVit(fresh, path);
    expect(report.layout).toBe('timm');
    expect(report.loaded.length).toBe(encoderNames(params).length);
    for (const name of encoderNames(params)) expect(fresh.get(name).value.data).toEqual(params.get(name).value.data);
    expect(fresh.get('head.weight').value.data).toEqual(headBefore);
    // Without a config beside it, heads default to width / 64, which 32 cannot give.
    expect(() => inferVitConfig(path)).toThrow(/cannot tell the number of heads of width 32/);
  });

  it('round trip under a prefix, and into a model with norm_pre', () => {
    const pre: VitConfig = { ...SMALL, preNorm: true };
    const params = new ParameterSet();
    new VisionTransformer(params, pre, 'student.');
    params.values.data.set(new Rng(9).normals(params.values.size));
    const path = join(dir, 'prefixed.safetensors');
    saveTimmVit(params, path, { prefix: 'student.' });
    expect(readSafetensors(path).tensors.has('norm_pre.weight')).toBe(true);
    const fresh = new ParameterSet();
    new VisionTransformer(fresh, pre, 'teacher.');
    loadTimmVit(fresh, path, { prefix: 'teacher.' });
    for (const p of params.list) expect(fresh.get(p.name.replace('student.', 'teacher.')).value.data).toEqual(p.value.data);
    // HF's ViT cannot hold norm_pre: named on export and on import.
    expect(() => saveTimmVit(params, join(dir, 'no.safetensors'), { prefix: 'student.', layout: 'hf' })).toThrow(/student\.norm_pre: Hugging Face's ViT has no LayerNorm/);
    const hfFile = join(dir, 'hf-plain.safetensors');
    saveTimmVit(randomVit(SMALL, 10).params, hfFile, { layout: 'hf' });
    expect(() => loadTimmVit(fresh, hfFile, { prefix: 'teacher.' })).toThrow(/1 problem\(s\):\n {2}teacher\.norm_pre: Hugging Face's ViT has no LayerNorm/);
  });

  it('Hugging Face layout: q/k/v split on export, stacked on import; classifier skipped; config from config.json', () => {
    const { params } = randomVit(SMALL, 3);
    const sub = mkdtempSync(join(dir, 'hf-'));
    const path = join(sub, 'model.safetensors');
    saveTimmVit(params, path, { layout: 'hf' });
    const file = readSafetensors(path);
    const qkv = params.get('blocks.0.attn.qkv.weight').value.data;
    expect(file.tensors.get('vit.encoder.layer.0.attention.attention.query.weight')?.data).toEqual(qkv.subarray(0, 32 * 32));
    expect(file.tensors.get('vit.encoder.layer.0.attention.attention.key.weight')?.data).toEqual(qkv.subarray(32 * 32, 64 * 32));
    expect(file.tensors.get('vit.encoder.layer.0.attention.attention.value.bias')?.data).toEqual(params.get('blocks.0.attn.qkv.bias').value.data.subarray(64, 96));
    expect(file.tensors.get('vit.encoder.layer.1.intermediate.dense.weight')?.data).toEqual(params.get('blocks.1.mlp.fc1.weight').value.data);
    expect(file.tensors.get('vit.layernorm.weight')?.data).toEqual(params.get('norm.weight').value.data);
    expect(file.tensors.has('blocks.0.attn.qkv.weight')).toBe(false);

    const withClassifier: SafetensorsFile = { metadata: {}, tensors: new Map(file.tensors) };
    withClassifier.tensors.set('classifier.weight', { dtype: 'F32', shape: [1000, 32], data: new Float32Array(32000) });
    const fresh = randomVit(SMALL, 4).params;
    const report = loadTimmVit(fresh, withClassifier);
    expect(report.layout).toBe('Hugging Face ViT');
    expect(report.ignored).toEqual(['classifier.weight']);
    for (const name of encoderNames(params)) expect(fresh.get(name).value.data).toEqual(params.get(name).value.data);

    writeFileSync(join(sub, 'config.json'), JSON.stringify({ model_type: 'vit', num_attention_heads: 2, layer_norm_eps: 1e-12, hidden_act: 'gelu' }));
    expect(inferVitConfig(path)).toEqual({ ...SMALL, layerNormEps: 1e-12 });
  });

  it('the golden debug ViT loaded through the timm mapping gives PyTorch\'s logits', () => {
    const g = new Golden('vit_debug');
    const { config, bins } = goldenVitConfig(g);
    // The golden file holds timm's state dict under 'param.'; strip it to get a timm file.
    const timm: SafetensorsFile = { metadata: {}, tensors: new Map() };
    for (const [name, t] of g.file.tensors) if (name.startsWith('param.')) timm.tensors.set(name.slice(6), t);
    const params = new ParameterSet();
    const vit = new VisionTransformer(params, config);
    const head = new ScoreHead(params, config.embedDim, bins, config.depth + 1);
    const report = loadTimmVit(params, timm);
    expect(report.ignored.sort()).toEqual(['head.bias', 'head.weight']);
    head.linear.weight.value.data.set(g.array('param.head.weight'));
    (head.linear.bias as NonNullable<typeof head.linear.bias>).value.data.set(g.array('param.head.bias'));
    const ctx = { arena: new Arena('test'), training: false };
    const logits = head.forward(vit.forward(g.tensor('input'), ctx), ctx);
    expectClose(logits.data, g.array('logits'), 1e-5, 'logits');
  });

  it('one error names every missing, unexpected and mis-shaped tensor, and writes nothing', () => {
    const { params } = randomVit(SMALL, 5);
    const path = join(dir, 'bad.safetensors');
    saveTimmVit(params, path);
    const file = readSafetensors(path);
    const bad: SafetensorsFile = { metadata: {}, tensors: new Map(file.tensors) };
    bad.tensors.set('blocks.0.attn.qkv.weight', { dtype: 'F32', shape: [96, 16], data: new Float32Array(96 * 16) });
    bad.tensors.delete('blocks.1.norm2.bias');
    bad.tensors.set('blocks.2.norm1.weight', { dtype: 'F32', shape: [32], data: new Float32Array(32) });
    const fresh = randomVit(SMALL, 6).params;
    const before = Float32Array.from(fresh.values.data);
    let err: unknown;
    try {
      loadTimmVit(fresh, bad, { source: 'bad.safetensors' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WeightImportError);
    const e = err as WeightImportError;
    expect(e.problems).toEqual([
      'blocks.0.attn.qkv.weight: shape [96, 16] in the file, expected [96, 32] (for blocks.0.attn.qkv.weight)',
      'blocks.1.norm2.bias: missing (for blocks.1.norm2.bias [32])',
      'blocks.2.norm1.weight: unexpected tensor [32] (no parameter of ours maps to it)',
    ]);
    expect(e.message).toMatch(/^bad\.safetensors: cannot import timm weights; 3 problem\(s\):/);
    expect(fresh.values.data).toEqual(before);
  });

  it('resamples the position embedding for another image size (bicubic), or refuses when told not to', () => {
    const { params } = randomVit(SMALL, 7);
    const path = join(dir, 'resize.safetensors');
    saveTimmVit(params, path);
    const big = randomVit({ ...SMALL, imgSize: 48 }, 8).params;
    const report = loadTimmVit(big, path);
    expect(report.resized).toEqual([{ param: 'pos_embed', from: 4, to: 6 }]);
    const want = resamplePosEmbed(params.get('pos_embed').value.data, { from: [4, 4], to: [6, 6], dim: 32 });
    expect(big.get('pos_embed').value.data).toEqual(want);
    expect(() => loadTimmVit(randomVit({ ...SMALL, imgSize: 48 }, 8).params, path, { resizePosEmbed: false })).toThrow(
      /pos_embed: shape \[1, 17, 32\] in the file, expected \[1, 37, 32\]/,
    );
  });
});
