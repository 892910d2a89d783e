// The offline stand-in: our conversion of nsfwjs@4.3.0's mobilenet_v2_mid (a
// tfjs graph model) to ONNX must compute what the original model computes in
// its own runtime (@tensorflow/tfjs, CPU backend, loading the same quantised
// files and dequantising them itself) up to the pooled 1792-d features
// (TF-Hub's feature_vector node).
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';

import { OnnxClipEncoder } from '../../src/clip/onnx_encoder.js';
import { buildStandinOnnx, ensureStandinOnnx, readStandinFiles, STANDIN_LABEL } from '../../src/clip/standin.js';
import { readOnnxMetadata } from '../../src/onnx/metadata.js';

const dir = mkdtempSync(join(tmpdir(), 'cskd-standin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const S = 224;
const D = 1792;
// TF-Hub's pooled, squeezed feature vector inside nsfwjs's graph.
const FEATURE_NODE = 'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/feature_vector/SpatialSqueeze';

/** Image-like NHWC input in [0, 1]: smooth gradients per channel plus deterministic noise. */
function inputNhwc(batch: number): Float32Array {
  const x = new Float32Array(batch * S * S * 3);
  let s = 12345;
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < S; y++) {
      for (let i = 0; i < S; i++) {
        for (let c = 0; c < 3; c++) {
          s = (Math.imul(s, 1103515245) + 12345) >>> 0;
          const smooth = 0.5 + 0.4 * Math.sin((i * (c + 1) + y * (b + 1)) / 23 + c);
          x[((b * S + y) * S + i) * 3 + c] = Math.min(1, Math.max(0, smooth + 0.1 * (s / 2 ** 32 - 0.5)));
        }
      }
    }
  }
  return x;
}

function toNchw(x: Float32Array, batch: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < batch; b++) for (let y = 0; y < S; y++) for (let i = 0; i < S; i++) for (let c = 0; c < 3; c++) out[((b * 3 + c) * S + y) * S + i] = x[((b * S + y) * S + i) * 3 + c]!;
  return out;
}

describe('CLIP stand-in (nsfwjs mobilenet_v2_mid → ONNX)', () => {
  it('matches the original model run by tfjs on the same input', async () => {
    const files = readStandinFiles();
    expect(files.version).toBe('4.3.0');
    const B = 2;
    const x = inputNhwc(B);

    // The original: tfjs loads the model.json and the still-quantised shards itself.
    tf.enableProdMode(); // no banner asking for tfjs-node on every test run
    await tf.setBackend('cpu');
    const specs = files.model.weightsManifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[];
    const weightData = files.weightData.buffer.slice(files.weightData.byteOffset, files.weightData.byteOffset + files.weightData.byteLength) as ArrayBuffer;
    const original = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: files.model.modelTopology as tf.io.ModelJSON['modelTopology'], weightSpecs: specs, weightData, format: 'graph-model' }));
    const input = tf.tensor4d(x, [B, S, S, 3]);
    const refTensor = original.execute(input, FEATURE_NODE) as tf.Tensor;
    expect(refTensor.shape).toEqual([B, D]);
    const ref = refTensor.dataSync() as Float32Array;
    tf.dispose([input, refTensor]);
    original.dispose();

    const session = await ort.InferenceSession.create(buildStandinOnnx(files), { intraOpNumThreads: 2 });
    const out = (await session.run({ pixel_values: new ort.Tensor('float32', toNchw(x, B), [B, 3, S, S]) }))['embedding']!;
    await session.release();
    expect(out.dims).toEqual([B, D]);
    const got = out.data as Float32Array;

    let maxErr = 0;
    let maxRef = 0;
    let nonzero = 0;
    for (let i = 0; i < ref.length; i++) {
      maxErr = Math.max(maxErr, Math.abs(got[i]! - ref[i]!));
      maxRef = Math.max(maxRef, Math.abs(ref[i]!));
      if (ref[i] !== 0) nonzero++;
    }
    // Features that are mostly zero would make the comparison weak.
    expect(nonzero).toBeGreaterThan(ref.length / 5);
    expect(maxRef).toBeGreaterThan(0.5);
    expect(maxErr).toBeLessThanOrEqual(1e-4 * maxRef);
    // The two images differ, so must their features.
    let diff = 0;
    for (let i = 0; i < D; i++) diff = Math.max(diff, Math.abs(ref[i]! - ref[D + i]!));
    expect(diff).toBeGreaterThan(1e-2);
  }, 60_000);

  it('is generated once into the cache, labelled a stand-in, and opens as an encoder', async () => {
    const path = ensureStandinOnnx(dir);
    const first = statSync(path).mtimeMs;
    expect(ensureStandinOnnx(dir)).toBe(path);
    expect(statSync(path).mtimeMs).toBe(first);
    const meta = readOnnxMetadata(path);
    expect(meta.props['stand_in']).toBe('true');
    expect(meta.props['description']).toBe(STANDIN_LABEL);
    expect(String(meta.modelConfig['description'])).toMatch(/STAND-IN \(not CLIP\)/);
    expect(meta.preprocessing).toMatchObject({ size: 224, scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] });

    const enc = await OnnxClipEncoder.open(path, { threads: 2 });
    try {
      expect(enc.standIn).toBe(true);
      expect(enc.dim).toBe(D);
      expect(enc.description).toMatch(/STAND-IN/);
      expect(enc.preprocessing.mean).toEqual([0, 0, 0]);
      expect(enc.preprocessing.std).toEqual([1, 1, 1]);
      expect(enc.modelHash).toMatch(/^[0-9a-f]{64}$/);
      expect(readFileSync(path).length).toBeGreaterThan(9e6);
    } finally {
      await enc.close();
    }
  });
});
