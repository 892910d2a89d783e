// The onnxruntime engine: finding the model (file, transformers.js folder,
// open_clip export), preprocessing from the configs, the embedding output by
// name, and errors that say what was expected and where it looked.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { OnnxClipEncoder, preprocessingFromHf, readMetadataProps } from '../../src/clip/onnx_encoder.js';
import { openClipEncoder } from '../../src/clip/open.js';
import { tinyExpected, tinyModel } from './tiny_model.js';

const root = mkdtempSync(join(tmpdir(), 'cskd-clip-onnx-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const D = 4;
const W = Float32Array.from({ length: 3 * D }, (_, i) => ((i * 7) % 5) - 2 + i / 10);

function folder(name: string): string {
  const d = join(root, name);
  mkdirSync(d, { recursive: true });
  return d;
}

/** A batch of images, each one colour, already normalised as the encoder expects. */
function solidBatch(colours: number[][], size: number, mean: readonly number[], std: readonly number[]): Float32Array {
  const plane = size * size;
  const x = new Float32Array(colours.length * 3 * plane);
  colours.forEach((rgb, b) => {
    for (let c = 0; c < 3; c++) x.fill((rgb[c]! / 255 - mean[c]!) / std[c]!, (b * 3 + c) * plane, (b * 3 + c + 1) * plane);
  });
  return x;
}

describe('OnnxClipEncoder', () => {
  it('opens a transformers.js folder: preprocessing from preprocessor_config.json, image_embeds by name', async () => {
    const d = folder('xenova');
    mkdirSync(join(d, 'onnx'));
    writeFileSync(join(d, 'onnx', 'vision_model.onnx'), tinyModel({ size: 12, weight: W, dim: D, hidden: true }));
    const mean = [0.5, 0.4, 0.3];
    const std = [0.2, 0.25, 0.3];
    writeFileSync(join(d, 'preprocessor_config.json'), JSON.stringify({ crop_size: { height: 12, width: 12 }, size: { shortest_edge: 14 }, do_center_crop: true, resample: 2, image_mean: mean, image_std: std, do_rescale: true, rescale_factor: 1 / 255 }));
    const enc = await openClipEncoder(d, { threads: 1 });
    try {
      expect(enc.engine).toBe('onnxruntime');
      expect(enc.dim).toBe(D);
      expect(enc.standIn).toBe(false);
      expect(enc.preprocessing).toMatchObject({ size: 12, resize: 14, interpolation: 'bilinear' });
      for (let c = 0; c < 3; c++) {
        expect(enc.preprocessing.mean[c]).toBeCloseTo(mean[c]!, 12);
        expect(enc.preprocessing.std[c]).toBeCloseTo(std[c]!, 12);
      }
      expect(enc.preprocessing.source).toContain('preprocessor_config.json');
      expect(enc.description).toContain("output 'image_embeds'");
      const colours = [[255, 0, 0], [10, 200, 90], [128, 128, 128]];
      const got = await enc.encode(solidBatch(colours, 12, mean, std), 3);
      colours.forEach((rgb, b) => {
        const want = tinyExpected(rgb, mean, std, W, D);
        for (let k = 0; k < D; k++) expect(got[b * D + k]).toBeCloseTo(want[k]!, 4);
      });
    } finally {
      await enc.close();
    }
  });

  it('folds a rescale factor other than 1/255 into mean and std', () => {
    const p = preprocessingFromHf({ crop_size: 10, size: 10, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5], rescale_factor: 1 / 127.5 }, 'x');
    // (x/127.5 − 0.5)/0.5 = (x/255 − 0.25)/0.25
    expect(p.mean[0]).toBeCloseTo(0.25, 12);
    expect(p.std[0]).toBeCloseTo(0.25, 12);
  });

  it('takes the open_clip folder layout (visual.onnx) and its config', async () => {
    const d = folder('openclip');
    writeFileSync(join(d, 'visual.onnx'), tinyModel({ size: 8, weight: W, dim: D, output: 'output' }));
    writeFileSync(join(d, 'open_clip_config.json'), JSON.stringify({ model_cfg: { vision_cfg: { image_size: 8 } }, preprocess_cfg: { mean: [0.1, 0.2, 0.3], std: [0.4, 0.5, 0.6], interpolation: 'bicubic' } }));
    const enc = await OnnxClipEncoder.open(d, { threads: 1 });
    try {
      expect(enc.preprocessing).toMatchObject({ size: 8, resize: 8, mean: [0.1, 0.2, 0.3], std: [0.4, 0.5, 0.6] });
      expect(enc.description).toContain("output 'output'");
    } finally {
      await enc.close();
    }
  });

  it('uses the output it is given, and defaults to OpenAI CLIP preprocessing, saying so', async () => {
    const d = folder('plain');
    const file = join(d, 'clip.onnx');
    writeFileSync(file, tinyModel({ size: 224, weight: W, dim: D, output: 'feats', hidden: true }));
    await expect(OnnxClipEncoder.open(file)).rejects.toThrow(/none of its outputs \(last_hidden_state, feats\) is an embedding output/);
    const enc = await OnnxClipEncoder.open(file, { output: 'feats', threads: 1 });
    try {
      expect(enc.preprocessing.source).toMatch(/default \(OpenAI CLIP\).*no preprocessor_config.json/);
      expect(enc.preprocessing.mean[0]).toBeCloseTo(0.48145466, 8);
    } finally {
      await enc.close();
    }
    await expect(OnnxClipEncoder.open(file, { output: 'last_hidden_state' })).rejects.toThrow(/must be \[batch, D\]/);
    await expect(OnnxClipEncoder.open(file, { output: 'nope' })).rejects.toThrow(/has no output 'nope'; outputs are last_hidden_state, feats/);
  });

  it('says what it expected and where it looked when the model is missing or wrong', async () => {
    const missing = join(root, 'does-not-exist');
    await expect(openClipEncoder(missing)).rejects.toThrow(new RegExp(`${missing} does not exist \\(expected an .onnx file, a transformers.js folder \\(onnx/vision_model.onnx`));
    const d = folder('quantized-only');
    mkdirSync(join(d, 'onnx'));
    writeFileSync(join(d, 'onnx', 'vision_model_quantized.onnx'), tinyModel({ size: 8, weight: W, dim: D }));
    await expect(openClipEncoder(d)).rejects.toThrow(/looked for onnx\/vision_model.onnx, vision_model.onnx, visual.onnx.*the folder has vision_model_quantized.onnx/);
    const bad = join(d, 'garbage.onnx');
    writeFileSync(bad, 'this is not a model');
    await expect(openClipEncoder(bad)).rejects.toThrow(/garbage.onnx/);
    const big = join(folder('size-mismatch'), 'm.onnx');
    writeFileSync(big, tinyModel({ size: 8, weight: W, dim: D }));
    await expect(openClipEncoder(big)).rejects.toThrow(/is 8 px but the preprocessing .* crops 224 px/);
  });

  it('reads metadata_props without decoding the graph', () => {
    const bytes = tinyModel({ size: 8, weight: W, dim: D, metadata: { stand_in: 'true', preprocessing: '{"a":1}' } });
    expect(readMetadataProps(bytes)).toEqual({ stand_in: 'true', preprocessing: '{"a":1}' });
  });
});
