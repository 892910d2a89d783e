// nsfwjs's three networks run through @tensorflow/tfjs (not cskd's converter),
// cut at their pooled features, as cskd ClipEncoders: so the stand-in
// measurement (bench/standin_probe.ts) embeds images with cskd's own decoder
// and feature store, and probes them with cskd's own ridge probe. nsfwjs feeds
// every network RGB / 255 (its core.js), at 224 px (299 for InceptionV3).
import * as tf from '@tensorflow/tfjs';

import type { ClipEncoder } from '../../src/clip/encoder.js';
import { type NsfwjsModelName, readNsfwjsModel } from '../../src/clip/standin.js';

/** Where each network's pooled feature is read: a Keras layer, or a graph node. */
const CUT: Record<NsfwjsModelName, { size: number; dim: number; layer?: string; node?: string }> = {
  // AveragePooling2D 7×7 over out_relu, flattened.
  mobilenet_v2: { size: 224, dim: 1280, layer: 'flatten_1' },
  // TF-Hub mobilenet_v2_140_224's feature_vector (global average pool, squeezed).
  mobilenet_v2_mid: { size: 224, dim: 1792, node: 'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/feature_vector/SpatialSqueeze' },
  // AveragePooling2D 8×8 over mixed10, flattened.
  inception_v3: { size: 299, dim: 2048, layer: 'flatten_1' },
};

/** Selects a tfjs backend ('cpu' is pure JS; 'wasm' needs @tensorflow/tfjs-backend-wasm installed). */
export async function useTfjsBackend(name: string): Promise<string> {
  if (name === 'wasm') {
    const pkg = '@tensorflow/tfjs-backend-wasm';
    await import(pkg).catch((e: unknown) => {
      throw new Error(`--backend wasm needs the npm package ${pkg} (npm install --no-save ${pkg}@4.22.0): ${(e as Error).message}`, { cause: e });
    });
  }
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend '${name}' could not be initialised`);
  await tf.ready();
  return tf.getBackend();
}

/** One nsfwjs network as a frozen encoder: pooled features of RGB/255 input. */
export async function nsfwjsTfjsEncoder(name: NsfwjsModelName): Promise<ClipEncoder> {
  const files = readNsfwjsModel(name);
  const cut = CUT[name];
  const json = files.model as unknown as { modelTopology: object; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[]; format?: string };
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: files.weightData.buffer.slice(files.weightData.byteOffset, files.weightData.byteOffset + files.weightData.byteLength) as ArrayBuffer,
    ...(json.format ? { format: json.format } : {}),
  };
  let run: (x: tf.Tensor4D) => tf.Tensor;
  if (cut.layer) {
    const full = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    const sub = tf.model({ inputs: full.inputs, outputs: full.getLayer(cut.layer).output as tf.SymbolicTensor });
    run = (x) => sub.predict(x) as tf.Tensor;
  } else {
    const graph = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
    run = (x) => graph.execute(x, cut.node) as tf.Tensor;
  }
  const size = cut.size;
  return {
    name: `nsfwjs:${name}`,
    engine: 'native',
    modelHash: files.sourceHash,
    dim: cut.dim,
    preprocessing: { size, resize: size, interpolation: 'bicubic', mean: [0, 0, 0], std: [1, 1, 1], source: `nsfwjs ${name}: RGB/255` },
    standIn: true,
    description: `STAND-IN candidate: nsfwjs@${files.version} ${name} through tfjs (${tf.getBackend()}), pooled ${cut.dim}-d`,
    encode: async (pixels, batch) => {
      // cskd's decoder gives [N, 3, H, W]; tfjs's networks take [N, H, W, 3].
      const out = tf.tidy(() => {
        const x = tf.tensor4d(pixels, [batch, 3, size, size]).transpose([0, 2, 3, 1]) as tf.Tensor4D;
        return run(x).reshape([batch, cut.dim]);
      });
      const data = (await out.data()) as Float32Array;
      out.dispose();
      return Float32Array.from(data);
    },
    close: async () => {},
  };
}
