// The two engines agree: a small CLIP-layout vision tower with random weights
// is saved as Hugging Face safetensors (read by cskd's engine) and exported
// to ONNX with its projection (run by onnxruntime); both must give the same
// embeddings for the same preprocessed images. onnxruntime is the
// independent implementation here.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';

import { NativeClipEncoder } from '../../src/clip/native_encoder.js';
import { openClipEncoder } from '../../src/clip/open.js';
import { CLIP_MEAN, CLIP_STD, ClipVisionModel, type ClipVisionConfig, saveClipVision } from '../../src/nn/clip.js';
import { ParameterSet } from '../../src/nn/parameters.js';
import { buildOnnxModel } from '../../src/onnx/export.js';
import { expectClose, Rng } from '../helpers/numeric.js';

const { onnx } = onnxProto;
const dir = mkdtempSync(join(tmpdir(), 'cskd-clip-engines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config: ClipVisionConfig = {
  imgSize: 32, patchSize: 8, inChans: 3, embedDim: 48, depth: 2, numHeads: 3, mlpRatio: 4, qkvBias: true,
  layerNormEps: 1e-5, gelu: 'quick', pool: 'cls', preNorm: true, projectionDim: 24,
};

function randomClip(seed: number): ClipVisionModel {
  const model = new ClipVisionModel(new ParameterSet(), config);
  const rng = new Rng(seed);
  for (const p of model.params.list) {
    if (p.name === 'patch_embed.proj.bias') continue; // CLIP has none: stays zero
    const isNormWeight = /norm[^.]*\.weight$/.test(p.name);
    const fanIn = p.shape.length >= 2 ? p.size / (p.shape[0] as number) : 1;
    const std = isNormWeight ? 0.2 : p.shape.length >= 2 && !p.name.includes('token') && !p.name.includes('pos_embed') ? 1.5 / Math.sqrt(fanIn) : 0.3;
    const noise = rng.normals(p.size, std);
    p.value.data.set(isNormWeight ? noise.map((v) => 1 + v) : noise);
  }
  return model;
}

/** The encoder exported by src/onnx, plus CLIP's projection as a MatMul, output 'image_embeds'. */
function clipOnnx(model: ClipVisionModel): Uint8Array {
  const bytes = buildOnnxModel({ encoder: model.encoder, head: null, preprocessing: { mean: [...CLIP_MEAN], std: [...CLIP_STD] } });
  const m = onnx.ModelProto.decode(bytes);
  const E = config.embedDim;
  const P = config.projectionDim;
  const w = model.projection.weight.value.data; // [P, E]
  const wt = new Float32Array(E * P);
  for (let p = 0; p < P; p++) for (let e = 0; e < E; e++) wt[e * P + p] = w[p * E + e]!;
  const graph = m.graph!;
  graph.initializer!.push(onnx.TensorProto.create({ name: 'visual_projection_t', dataType: onnx.TensorProto.DataType.FLOAT, dims: [E, P], rawData: new Uint8Array(wt.buffer) }));
  graph.node!.push(onnx.NodeProto.create({ name: 'projection', opType: 'MatMul', input: ['embedding', 'visual_projection_t'], output: ['image_embeds'] }));
  graph.output = [onnx.ValueInfoProto.create({ name: 'image_embeds', type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: P }] } } } })];
  return onnx.ModelProto.encode(m).finish();
}

describe('CLIP engines', () => {
  it('native (safetensors import) and onnxruntime (ONNX export) give the same embeddings', async () => {
    const model = randomClip(7);
    const hfDir = join(dir, 'hf');
    mkdirSync(hfDir);
    saveClipVision(model, join(hfDir, 'model.safetensors'), 'hf');
    writeFileSync(join(hfDir, 'config.json'), JSON.stringify({ vision_config: { hidden_size: 48, num_attention_heads: 3, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5 } }));
    const onnxFile = join(dir, 'vision.onnx');
    writeFileSync(onnxFile, clipOnnx(model));

    const native = await openClipEncoder(hfDir, { native: {} });
    const ort = await openClipEncoder(onnxFile, { threads: 1 });
    try {
      expect(native).toBeInstanceOf(NativeClipEncoder);
      expect(native.engine).toBe('native');
      expect(ort.engine).toBe('onnxruntime');
      expect(native.dim).toBe(24);
      expect(ort.dim).toBe(24);
      expect(native.preprocessing.size).toBe(32);
      expect(ort.preprocessing.size).toBe(32);
      for (let c = 0; c < 3; c++) {
        expect(ort.preprocessing.mean[c]).toBeCloseTo(native.preprocessing.mean[c]!, 6);
        expect(ort.preprocessing.std[c]).toBeCloseTo(native.preprocessing.std[c]!, 6);
      }
      const B = 3;
      const pixels = Float32Array.from(new Rng(3).normals(B * 3 * 32 * 32, 1));
      const a = await native.encode(pixels, B);
      const b = await ort.encode(pixels, B);
      expect(a.length).toBe(B * 24);
      expectClose(a, b, 1e-5, 'native vs onnxruntime embeddings');
      // Different images, different embeddings (the comparison is not of constants).
      let spread = 0;
      for (let k = 0; k < 24; k++) spread = Math.max(spread, Math.abs(b[k]! - b[24 + k]!));
      expect(spread).toBeGreaterThan(1e-2);
    } finally {
      await native.close();
      await ort.close();
    }
  });
});
