// The offline stand-in for CLIP. No npm package ships CLIP weights and cskd
// downloads nothing at run time, so the demo aligns to the best frozen
// pretrained image encoder an npm package does ship under a permissive
// licence: nsfwjs@4.3.0's MobileNetV2 (MIT, Infinite Red). It is NOT CLIP:
// its features know ImageNet (blocks 0–10 kept their ImageNet weights) and
// nsfwjs's five-way content task (later blocks), not image–text semantics.
// Everything that carries it says "stand-in".
//
// The package holds a tfjs Keras model as UMD modules: model.min.js exports
// model.json (topology + weights manifest), group1-shard*.min.js export the
// weights as base64 of uint8-quantised values (value = q · scale + min, per
// tensor). We convert it with our own code, layer by layer, to ONNX:
//   input_1 [N, 224, 224, 3] NHWC, RGB / 255     → pixel_values [N, 3, 224, 224] NCHW
//   ZeroPadding2D [[0,1],[0,1]] + Conv2D 'valid' → Conv with pads [0, 0, 1, 1]
//   Conv2D / DepthwiseConv2D 'same' (stride 1)    → Conv with symmetric pads (group = C for depthwise)
//   kernels [kh, kw, in, out] / [kh, kw, C, 1]    → [out, in, kh, kw] / [C, 1, kh, kw]
//   BatchNormalization (not folded, ε 1e-3)       → BatchNormalization (ORT folds it into the Conv)
//   ReLU max_value 6                              → Clip(0, 6)
//   out_relu [N, 7, 7, 1280] → AveragePooling2D 7×7 → Flatten: the 1280-d "embedding" (GlobalAveragePool)
// nsfwjs's own dense head (256 → 128 → 5) is left out: the embedding is the pooled feature.
// The ONNX file is generated on first use into the cache folder, named by a
// hash of the package's files and this converter's version, and written
// atomically; later runs reuse it.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

import { METADATA_FORMAT_VERSION, type OnnxPreprocessing } from '../onnx/metadata.js';
import { writeFileAtomicSync } from '../util/atomic_file.js';
import { cacheDir, sha256 } from './files.js';

const { onnx } = onnxProto;

/** What `--clip standin` names. */
export const STANDIN_NAME = 'standin';
export const STANDIN_LABEL = 'STAND-IN (not CLIP): nsfwjs@4.3.0 MobileNetV2 features, 1280-d';
/** Bump when the converter's output changes, so cached files are regenerated. */
const CONVERTER_VERSION = '1';
const OPSET = 17;
const IR_VERSION = 8;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const A = onnx.AttributeProto.AttributeType;

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

// ---- the tfjs Keras files ----

interface KerasLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, unknown][][];
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { min?: number; scale?: number; dtype: string };
}

/** The tfjs model.json content: Keras topology and the weights manifest. */
export interface TfjsModelJson {
  modelTopology: { model_config: { class_name: string; config: { layers: KerasLayer[]; input_layers: unknown[]; output_layers: unknown[] } } };
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

export interface KerasWeights {
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

/** Reads nsfwjs's MobileNetV2 files (require() of its UMD modules; tfjs is not needed). */
export function readNsfwjsMobileNetV2(): NsfwjsModelFiles {
  return readNsfwjsModel('mobilenet_v2');
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
export function dequantizeWeights(specs: readonly WeightSpec[], data: Uint8Array): Map<string, KerasWeights> {
  const out = new Map<string, KerasWeights>();
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

// ---- Keras → ONNX ----

function floatTensor(name: string, dims: readonly number[], values: Float32Array): OnnxTypes.ITensorProto {
  const raw = new Uint8Array(values.byteLength);
  const dv = new DataView(raw.buffer);
  values.forEach((v, i) => dv.setFloat32(4 * i, v, true));
  return { name, dataType: FLOAT, dims: [...dims], rawData: raw };
}

/** [kh, kw, in, out] → [out, in, kh, kw] (Conv2D); [kh, kw, C, m] → [C·m, 1, kh, kw] (depthwise). */
function convKernel(w: KerasWeights, depthwise: boolean): { dims: number[]; data: Float32Array } {
  const [kh, kw, cin, cout] = w.shape as [number, number, number, number];
  const outCh = depthwise ? cin * cout : cout;
  const inCh = depthwise ? 1 : cin;
  const data = new Float32Array(w.data.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        for (let o = 0; o < cout; o++) {
          const src = ((y * kw + x) * cin + i) * cout + o;
          // Depthwise output channel i·m + o reads input channel i (TF's channel-multiplier order).
          const dst = depthwise ? ((i * cout + o) * kh + y) * kw + x : ((o * cin + i) * kh + y) * kw + x;
          data[dst] = w.data[src]!;
        }
      }
    }
  }
  return { dims: [outCh, inCh, kh, kw], data };
}

export interface KerasToOnnxOptions {
  /** The layer whose output is global-average-pooled into the embedding. */
  featureLayer: string;
  /** Input side in pixels (square). */
  size: number;
  metadata: Record<string, string>;
  docString: string;
}

/**
 * A Keras functional CNN (the layer kinds MobileNetV2 uses) up to
 * `featureLayer`, then GlobalAveragePool: pixel_values [N, 3, S, S] → embedding [N, C].
 */
export function kerasCnnToOnnx(model: TfjsModelJson, weights: Map<string, KerasWeights>, opts: KerasToOnnxOptions): Uint8Array {
  const cfg = model.modelTopology.model_config;
  const layers = cfg.config.layers;
  const nodes: OnnxTypes.INodeProto[] = [];
  const initializers: OnnxTypes.ITensorProto[] = [];
  // Keras layer name → ONNX value holding its output; padding layers defer to their consumer.
  const values = new Map<string, string>();
  const pending = new Map<string, { input: string; pads: [number, number, number, number] }>();
  const weight = (layer: string, key: string): KerasWeights => {
    const w = weights.get(`${layer}/${key}`);
    if (!w) throw new Error(`the CLIP stand-in: layer ${layer} has no weight '${layer}/${key}' in the manifest`);
    return w;
  };
  const param = (name: string, w: { dims?: number[]; shape?: number[]; data: Float32Array }): string => {
    initializers.push(floatTensor(name, w.dims ?? w.shape ?? [w.data.length], w.data));
    return name;
  };
  const constants = new Map<number, string>();
  const scalar = (v: number): string => {
    let name = constants.get(v);
    if (!name) {
      name = param(`const.${constants.size}`, { dims: [], data: Float32Array.of(v) });
      constants.set(v, name);
    }
    return name;
  };
  const inputOf = (l: KerasLayer): string[] => {
    if (l.inbound_nodes.length !== 1) throw new Error(`the CLIP stand-in: layer ${l.name} is shared (${l.inbound_nodes.length} calls); not supported`);
    return l.inbound_nodes[0]!.map(([src]) => src);
  };
  const value = (src: string, consumer: string): string => {
    const v = values.get(src);
    if (v === undefined) throw new Error(`the CLIP stand-in: layer ${consumer} reads ${src}, which has no converted output (padding must feed a convolution)`);
    return v;
  };
  const add = (name: string, opType: string, input: string[], attribute: OnnxTypes.IAttributeProto[] = []): string => {
    nodes.push({ name, opType, input, output: [name], attribute });
    values.set(name, name);
    return name;
  };

  let reached = false;
  for (const l of layers) {
    const c = l.config;
    switch (l.class_name) {
      case 'InputLayer': {
        const shape = c['batch_input_shape'] as (number | null)[];
        if (shape[1] !== opts.size || shape[2] !== opts.size || shape[3] !== 3) throw new Error(`the CLIP stand-in: input ${l.name} is [${shape.join(', ')}], expected [null, ${opts.size}, ${opts.size}, 3]`);
        values.set(l.name, 'pixel_values');
        break;
      }
      case 'ZeroPadding2D': {
        const [[top, bottom], [left, right]] = c['padding'] as [[number, number], [number, number]];
        if (c['data_format'] !== 'channels_last') throw new Error(`the CLIP stand-in: ${l.name} is not channels_last`);
        pending.set(l.name, { input: value(inputOf(l)[0]!, l.name), pads: [top, left, bottom, right] });
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const depthwise = l.class_name === 'DepthwiseConv2D';
        const src = inputOf(l)[0]!;
        const [kh, kw] = c['kernel_size'] as [number, number];
        const strides = c['strides'] as [number, number];
        const dilation = c['dilation_rate'] as [number, number];
        if (dilation[0] !== 1 || dilation[1] !== 1) throw new Error(`the CLIP stand-in: ${l.name} is dilated; not supported`);
        if (c['activation'] !== 'linear') throw new Error(`the CLIP stand-in: ${l.name} has a fused activation '${String(c['activation'])}'; not supported`);
        let input: string;
        let pads: [number, number, number, number] = [0, 0, 0, 0];
        const pad = pending.get(src);
        if (pad) {
          if (c['padding'] !== 'valid') throw new Error(`the CLIP stand-in: ${l.name} follows ZeroPadding2D but pads '${String(c['padding'])}' itself`);
          input = pad.input;
          pads = pad.pads;
        } else {
          input = value(src, l.name);
          if (c['padding'] === 'same') {
            // TF's 'same' is symmetric for stride 1 and odd kernels; other cases pad asymmetrically by input size.
            if (strides[0] !== 1 || strides[1] !== 1 || kh % 2 === 0 || kw % 2 === 0) throw new Error(`the CLIP stand-in: ${l.name}: 'same' padding with stride ${strides.join('×')} / kernel ${kh}×${kw} is not supported`);
            pads = [(kh - 1) / 2, (kw - 1) / 2, (kh - 1) / 2, (kw - 1) / 2];
          } else if (c['padding'] !== 'valid') throw new Error(`the CLIP stand-in: ${l.name} has padding '${String(c['padding'])}'`);
        }
        const w = weight(l.name, depthwise ? 'depthwise_kernel' : 'kernel');
        const k = convKernel(w, depthwise);
        const inputs = [input, param(`${l.name}.weight`, k)];
        if (c['use_bias']) inputs.push(param(`${l.name}.bias`, weight(l.name, 'bias')));
        add(l.name, 'Conv', inputs, [
          { name: 'kernel_shape', type: A.INTS, ints: [kh, kw] },
          { name: 'strides', type: A.INTS, ints: [...strides] },
          { name: 'pads', type: A.INTS, ints: pads },
          { name: 'group', type: A.INT, i: depthwise ? (w.shape[2] as number) : 1 },
        ]);
        break;
      }
      case 'BatchNormalization': {
        if (c['axis'] !== -1 && c['axis'] !== 3 && !(Array.isArray(c['axis']) && c['axis'][0] === 3)) throw new Error(`the CLIP stand-in: ${l.name} normalises axis ${JSON.stringify(c['axis'])}, not the channels`);
        const C = weight(l.name, 'moving_mean').data.length;
        const gamma = c['scale'] === false ? { data: new Float32Array(C).fill(1) } : weight(l.name, 'gamma');
        const beta = c['center'] === false ? { data: new Float32Array(C) } : weight(l.name, 'beta');
        add(l.name, 'BatchNormalization', [
          value(inputOf(l)[0]!, l.name),
          param(`${l.name}.gamma`, { data: gamma.data }),
          param(`${l.name}.beta`, { data: beta.data }),
          param(`${l.name}.moving_mean`, { data: weight(l.name, 'moving_mean').data }),
          param(`${l.name}.moving_variance`, { data: weight(l.name, 'moving_variance').data }),
        ], [{ name: 'epsilon', type: A.FLOAT, f: c['epsilon'] as number }]);
        break;
      }
      case 'ReLU': {
        if ((c['negative_slope'] ?? 0) !== 0 || (c['threshold'] ?? 0) !== 0) throw new Error(`the CLIP stand-in: ${l.name} is a leaky or thresholded ReLU; not supported`);
        const x = value(inputOf(l)[0]!, l.name);
        const max = c['max_value'];
        if (max === null || max === undefined) add(l.name, 'Relu', [x]);
        else add(l.name, 'Clip', [x, scalar(0), scalar(max as number)]);
        break;
      }
      case 'Add': {
        const ins = inputOf(l).map((s) => value(s, l.name));
        let acc = ins[0]!;
        for (let i = 1; i < ins.length; i++) acc = add(i === ins.length - 1 ? l.name : `${l.name}.${i}`, 'Add', [acc, ins[i]!]);
        break;
      }
      default:
        throw new Error(`the CLIP stand-in: layer ${l.name} (${l.class_name}) comes before ${opts.featureLayer} and has no conversion`);
    }
    if (l.name === opts.featureLayer) {
      reached = true;
      break;
    }
  }
  if (!reached) throw new Error(`the CLIP stand-in: feature layer ${opts.featureLayer} not found`);
  const pooled = add('pool', 'GlobalAveragePool', [value(opts.featureLayer, 'pool')]);
  nodes.push({ name: 'embedding', opType: 'Flatten', input: [pooled], output: ['embedding'], attribute: [{ name: 'axis', type: A.INT, i: 1 }] });
  const featureDim = (() => {
    for (let i = layers.findIndex((l) => l.name === opts.featureLayer); i >= 0; i--) {
      const l = layers[i]!;
      if (l.class_name === 'Conv2D') return l.config['filters'] as number;
      if (l.class_name === 'BatchNormalization') return weight(l.name, 'moving_mean').data.length;
    }
    throw new Error(`the CLIP stand-in: cannot tell the width of ${opts.featureLayer}`);
  })();
  const dim = (d: number | string): OnnxTypes.TensorShapeProto.IDimension => (typeof d === 'string' ? { dimParam: d } : { dimValue: d });
  const tensorType = (dims: (number | string)[]) => ({ tensorType: { elemType: FLOAT, shape: { dim: dims.map(dim) } } });
  const m: OnnxTypes.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'cskd',
    // Not cskd's version: the file (and so its hash, which stamps feature stores) changes only with the converter.
    producerVersion: `standin-converter-${CONVERTER_VERSION}`,
    docString: opts.docString,
    graph: {
      name: 'cskd-standin',
      node: nodes,
      initializer: initializers,
      input: [{ name: 'pixel_values', type: tensorType(['batch', 3, opts.size, opts.size]) }],
      output: [{ name: 'embedding', type: tensorType(['batch', featureDim]) }],
    },
    metadataProps: Object.entries(opts.metadata).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(m).finish();
}

/** The stand-in as ONNX bytes (pixel_values [N, 3, 224, 224] RGB/255 → embedding [N, 1280]). */
export function buildStandinOnnx(files: NsfwjsModelFiles = readNsfwjsMobileNetV2()): Uint8Array {
  const specs = files.model.weightsManifest.flatMap((g) => g.weights);
  const weights = dequantizeWeights(specs, files.weightData);
  const modelConfig = {
    stand_in: true,
    description: STANDIN_LABEL,
    source: `nsfwjs@${files.version} dist/models/mobilenet_v2 (Keras MobileNetV2 alpha 1.0, 224 px)`,
    source_license: 'MIT (Copyright (c) 2019 Infinite Red, Inc.)',
    source_hash: files.sourceHash,
    feature_layer: 'out_relu',
    converter_version: CONVERTER_VERSION,
  };
  return kerasCnnToOnnx(files.model, weights, {
    featureLayer: 'out_relu',
    size: 224,
    docString: `${STANDIN_LABEL}. Converted by cskd from nsfwjs (MIT). Not a CLIP model: a frozen pretrained CNN used so the demo runs offline.`,
    metadata: {
      producer: 'cskd',
      producer_version: `standin-converter-${CONVERTER_VERSION}`,
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
  const files = readNsfwjsMobileNetV2();
  const path = join(dir, `standin-nsfwjs-mobilenet_v2-${files.sourceHash.slice(0, 12)}-c${CONVERTER_VERSION}.onnx`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  writeFileAtomicSync(path, buildStandinOnnx(files));
  return path;
}
