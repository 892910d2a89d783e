// The offline stand-in for CLIP. No npm package ships CLIP weights and cskd
// downloads nothing at run time, so the demo aligns to the best frozen
// pretrained image encoder an npm package does ship under a permissive
// licence: nsfwjs@4.3.0's mobilenet_v2_mid, TF-Hub's MobileNetV2 at width
// 1.4 (MIT, Infinite Red), chosen of nsfwjs's three networks because its
// features know aesthetics-like labels best (docs/training.md: ridge-probe
// SRCC on the demo set and on a real-photo set). It is NOT CLIP: its features
// know ImageNet and nsfwjs's five-way content task, not image–text semantics.
// Everything that carries it says "stand-in".
//
// The package holds a tfjs graph model as UMD modules: model.min.js exports
// model.json (the fused TF graph + weights manifest), group1-shard*.min.js
// export the weights as base64 of uint8-quantised values (value = q · scale +
// min, per tensor). Our own code converts it to ONNX (standin_graph.ts), up to
// the last convolution's output [N, 1792, 7, 7], then GlobalAveragePool: the
// 1792-d "embedding" (TF-Hub's feature_vector). The graph scales RGB/255 to
// [−1, 1] itself, so the ONNX takes RGB/255. nsfwjs's own dense head is left
// out. The ONNX file is generated on first use into the cache folder, named by
// a hash of the package's files and this converter's version, and written
// atomically; later runs reuse it.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';


import { METADATA_FORMAT_VERSION, type OnnxPreprocessing } from '../onnx/metadata.js';
import { writeFileAtomicSync } from '../util/atomic_file.js';
import { cacheDir, sha256 } from './files.js';
import { tfjsGraphCnnToOnnx, type TfjsGraphJson } from './standin_graph.js';


/** What `--clip standin` names. */
export const STANDIN_NAME = 'standin';
export const STANDIN_LABEL = 'STAND-IN (not CLIP): nsfwjs@4.3.0 mobilenet_v2_mid (MobileNetV2 α 1.4) features, 1792-d';
/** Bump when the converter's output changes, so cached files are regenerated. */
const CONVERTER_VERSION = '2';

/** The preprocessing the stand-in's ONNX expects: RGB / 255, no mean or std (nsfwjs feeds RGB/255). */
export const STANDIN_PREPROCESSING: OnnxPreprocessing = {
  size: 224,
  resize: 224,
  crop: 'center',
  interpolation: 'bicubic',
  scale: 1 / 255,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  channels: 'RGB',
  layout: 'NCHW',
};

// ---- the tfjs files ----

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { min?: number; scale?: number; dtype: string };
}

/** The tfjs model.json content: a Keras topology or a TF graph, and the weights manifest. */
export interface TfjsModelJson {
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

export interface TfjsWeights {
  shape: number[];
  data: Float32Array;
}

export interface NsfwjsModelFiles {
  /** The package folder and version found. */
  packageDir: string;
  version: string;
  model: TfjsModelJson;
  /** The weight shards concatenated, as tfjs would load them (still quantised). */
  weightData: Uint8Array;
  /** SHA-256 of model.min.js and the shard files (what the cached ONNX is keyed by). */
  sourceHash: string;
}

/** Finds the installed nsfwjs (its exports map hides dist/models, so walk up from its entry point). */
function nsfwjsDir(): string {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve('nsfwjs');
  } catch (e) {
    throw new Error(`the CLIP stand-in needs the npm package nsfwjs@4.3.0 (its MobileNetV2 weights); it is not installed: ${(e as Error).message}`, { cause: e });
  }
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'nsfwjs') return dir;
  }
  throw new Error(`the CLIP stand-in: found nsfwjs's entry ${entry} but not its package.json above it`);
}

/** The three networks nsfwjs@4.3.0 ships (folders under dist/models). */
export const NSFWJS_MODELS = ['mobilenet_v2', 'mobilenet_v2_mid', 'inception_v3'] as const;
export type NsfwjsModelName = (typeof NSFWJS_MODELS)[number];

/** The network the stand-in is made of. */
export const STANDIN_NETWORK: NsfwjsModelName = 'mobilenet_v2_mid';

/** Reads the stand-in's nsfwjs files (require() of its UMD modules; tfjs is not needed). */
export function readStandinFiles(): NsfwjsModelFiles {
  return readNsfwjsModel(STANDIN_NETWORK);
}

/** Reads one of nsfwjs's networks: model.json and the weight shards, still quantised. */
export function readNsfwjsModel(name: NsfwjsModelName): NsfwjsModelFiles {
  const packageDir = nsfwjsDir();
  const version = (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;
  const modelDir = join(packageDir, 'dist', 'models', name);
  const modelFile = join(modelDir, 'model.min.js');
  if (!existsSync(modelFile)) throw new Error(`the CLIP stand-in: ${modelFile} is missing (nsfwjs ${version}; expected 4.3.0's layout)`);
  const require = createRequire(import.meta.url);
  const model = require(modelFile) as TfjsModelJson;
  if (!model?.modelTopology || !Array.isArray(model.weightsManifest)) throw new Error(`the CLIP stand-in: ${modelFile} does not export a tfjs model.json`);
  const hash = sha256(readFileSync(modelFile));
  const parts: Uint8Array[] = [];
  const hashes = [hash];
  for (const group of model.weightsManifest) {
    for (const p of group.paths) {
      const file = join(modelDir, `${p}.min.js`);
      if (!existsSync(file)) throw new Error(`the CLIP stand-in: weight shard ${file} is missing`);
      const b64 = require(file) as unknown;
      if (typeof b64 !== 'string') throw new Error(`the CLIP stand-in: ${file} does not export a base64 string`);
      parts.push(Buffer.from(b64, 'base64'));
      hashes.push(sha256(readFileSync(file)));
    }
  }
  return { packageDir, version, model, weightData: Buffer.concat(parts), sourceHash: sha256(hashes.join(',')) };
}

const BYTES: Record<string, number> = { uint8: 1, uint16: 2, float32: 4 };

/** The weights as float32, dequantised as tfjs does (q · scale + min for uint8/uint16). */
export function dequantizeWeights(specs: readonly WeightSpec[], data: Uint8Array): Map<string, TfjsWeights> {
  const out = new Map<string, TfjsWeights>();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let offset = 0;
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const q = s.quantization;
    if (s.dtype !== 'float32') throw new Error(`the CLIP stand-in: weight ${s.name} has dtype ${s.dtype}; only float32 weights are converted`);
    const storage = q ? q.dtype : 'float32';
    const bytes = BYTES[storage];
    if (!bytes) throw new Error(`the CLIP stand-in: weight ${s.name} is quantised as ${storage}; only uint8, uint16 (and plain float32) are read`);
    if (offset + n * bytes > data.length) throw new Error(`the CLIP stand-in: weight ${s.name} runs past the end of the shards (${data.length} bytes)`);
    const values = new Float32Array(n);
    if (storage === 'float32') {
      for (let i = 0; i < n; i++) values[i] = view.getFloat32(offset + 4 * i, true);
    } else {
      const scale = q!.scale ?? 1;
      const min = q!.min ?? 0;
      for (let i = 0; i < n; i++) values[i] = (storage === 'uint8' ? data[offset + i]! : view.getUint16(offset + 2 * i, true)) * scale + min;
    }
    out.set(s.name, { shape: s.shape, data: values });
    offset += n * bytes;
  }
  if (offset !== data.length) throw new Error(`the CLIP stand-in: the manifest describes ${offset} bytes, the shards hold ${data.length}`);
  return out;
}

/** The stand-in as ONNX bytes (pixel_values [N, 3, 224, 224] RGB/255 → embedding [N, 1792]). */
export function buildStandinOnnx(files: NsfwjsModelFiles = readStandinFiles()): Uint8Array {
  const specs = files.model.weightsManifest.flatMap((g) => g.weights);
  const weights = dequantizeWeights(specs, files.weightData);
  const graph = files.model as unknown as TfjsGraphJson;
  // The features are what the graph's one AvgPool (7×7 over 7×7, i.e. global) pools.
  const pool = graph.modelTopology?.node?.find((n) => n.op === 'AvgPool');
  const featureNode = pool?.input?.[0];
  if (!featureNode) throw new Error(`the CLIP stand-in: nsfwjs ${STANDIN_NETWORK} has no AvgPool node to cut at (expected nsfwjs 4.3.0's graph model)`);
  const modelConfig = {
    stand_in: true,
    description: STANDIN_LABEL,
    source: `nsfwjs@${files.version} dist/models/${STANDIN_NETWORK} (TF-Hub MobileNetV2 alpha 1.4, 224 px)`,
    source_license: 'MIT (Copyright (c) 2019 Infinite Red, Inc.)',
    source_hash: files.sourceHash,
    feature_node: featureNode,
    converter_version: CONVERTER_VERSION,
  };
  const producerVersion = `standin-converter-${CONVERTER_VERSION}`;
  return tfjsGraphCnnToOnnx(graph, weights, {
    featureNode,
    size: 224,
    // Not cskd's version: the file (and so its hash, which stamps feature stores) changes only with the converter.
    producerVersion,
    docString: `${STANDIN_LABEL}. Converted by cskd from nsfwjs (MIT). Not a CLIP model: a frozen pretrained CNN used so the demo runs offline.`,
    metadata: {
      producer: 'cskd',
      producer_version: producerVersion,
      format_version: METADATA_FORMAT_VERSION,
      task: 'embedding',
      stand_in: 'true',
      description: STANDIN_LABEL,
      preprocessing: JSON.stringify(STANDIN_PREPROCESSING),
      model_config: JSON.stringify(modelConfig),
    },
  });
}

/**
 * The stand-in's ONNX file, converted on first use into `dir` (default the
 * cskd cache folder) and reused afterwards. Nothing is downloaded.
 */
export function ensureStandinOnnx(dir: string = join(cacheDir(), 'models')): string {
  const files = readStandinFiles();
  const path = join(dir, `standin-nsfwjs-${STANDIN_NETWORK}-${files.sourceHash.slice(0, 12)}-c${CONVERTER_VERSION}.onnx`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  writeFileAtomicSync(path, buildStandinOnnx(files));
  return path;
}
