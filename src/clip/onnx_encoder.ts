// A frozen CLIP image encoder run by onnxruntime-node on the CPU.
//
// What it opens:
//   - an .onnx file;
//   - a folder in the transformers.js layout: onnx/vision_model.onnx with
//     preprocessor_config.json beside onnx/ (Xenova/clip-* and their kin);
//   - a folder holding an open_clip (or clip-as-service) export: visual.onnx
//     or image_encoder.onnx, with open_clip_config.json when there is one.
// Preprocessing, first found wins: the caller's; the model's own cskd metadata
// ('preprocessing' in metadata_props, as exportOnnx and the stand-in write);
// preprocessor_config.json (Hugging Face); open_clip_config.json; else OpenAI
// CLIP's values, and `preprocessing.source` says it was assumed.
// The embedding is the output the caller names, else the first of
// EMBEDDING_OUTPUTS the model has, else its only output; it must be
// [batch, D]. The model's hash covers the .onnx file and an external-data file
// beside it (name.onnx_data / name.onnx.data), so a store never mixes models.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import type * as Ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';

import { validatePreprocessing, type Interpolation } from '../onnx/metadata.js';
import { checkBatch, type ClipEncoder, type EncoderPreprocessing, OPENAI_CLIP_PREPROCESSING } from './encoder.js';
import { sha256, sha256File } from './files.js';
import { loadOnnxRuntime, onnxRuntime } from '../onnx/runtime.js';

const { onnx } = onnxProto;

/** Output names tried in order when none is given. */
export const EMBEDDING_OUTPUTS = ['image_embeds', 'embedding', 'image_features', 'embeddings', 'pooler_output', 'output'] as const;

/** Model files tried in order inside a folder. */
export const FOLDER_MODELS = ['onnx/vision_model.onnx', 'vision_model.onnx', 'visual.onnx', 'image_encoder.onnx', 'model.onnx'] as const;

export interface OnnxEncoderOptions {
  /** onnxruntime intra-op threads (default: onnxruntime's choice, one per core). */
  threads?: number;
  /** The output that holds the embedding. */
  output?: string;
  /** The image input (default: the model's only input). */
  input?: string;
  /** Overrides the preprocessing found (fields not given keep the found values). */
  preprocessing?: Partial<Omit<EncoderPreprocessing, 'source'>>;
  /** Shown as the encoder's name (default: the path). */
  name?: string;
}

/** The model's top-level metadata_props, read without decoding the graph (which holds the weights). */
export function readMetadataProps(bytes: Uint8Array): Record<string, string> {
  const props: Record<string, string> = {};
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (pos >= bytes.length) throw new Error('truncated protobuf varint');
      const b = bytes[pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  while (pos < bytes.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const len = varint();
      if (field === 14) {
        const e = onnx.StringStringEntryProto.decode(bytes.subarray(pos, pos + len));
        props[e.key] = e.value;
      }
      pos += len;
    } else throw new Error(`unexpected protobuf wire type ${wire}`);
  }
  return props;
}

function readJson(path: string): Record<string, unknown> | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

function triple(v: unknown): [number, number, number] | null {
  return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (v as [number, number, number]) : null;
}

/** PIL resample codes as Hugging Face image processors store them. */
const PIL_RESAMPLE: Record<number, Interpolation> = { 0: 'nearest', 1: 'lanczos3', 2: 'bilinear', 3: 'bicubic' };

function side(v: unknown, keys: string[]): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'object' && v !== null) {
    for (const k of keys) {
      const x = (v as Record<string, unknown>)[k];
      if (typeof x === 'number') return x;
    }
  }
  return null;
}

/** Preprocessing from a Hugging Face preprocessor_config.json (CLIPImageProcessor / CLIPFeatureExtractor). */
export function preprocessingFromHf(json: Record<string, unknown>, source: string): EncoderPreprocessing {
  const resize = side(json['size'], ['shortest_edge', 'height']) ?? 224;
  const crop = json['do_center_crop'] === false ? resize : (side(json['crop_size'], ['height', 'shortest_edge']) ?? resize);
  const scale = json['do_rescale'] === false ? 1 : typeof json['rescale_factor'] === 'number' ? json['rescale_factor'] : 1 / 255;
  const normalize = json['do_normalize'] !== false;
  const mean = normalize ? (triple(json['image_mean']) ?? OPENAI_CLIP_PREPROCESSING.mean) : [0, 0, 0];
  const std = normalize ? (triple(json['image_std']) ?? OPENAI_CLIP_PREPROCESSING.std) : [1, 1, 1];
  // (x·scale − m)/s = (x/255 − m/(255·scale)) / (s/(255·scale)).
  const k = 255 * scale;
  return {
    size: crop,
    resize: Math.max(resize, crop),
    interpolation: PIL_RESAMPLE[json['resample'] as number] ?? 'bicubic',
    mean: mean.map((m) => m / k) as [number, number, number],
    std: std.map((s) => s / k) as [number, number, number],
    source,
  };
}

/** Preprocessing from an open_clip_config.json (preprocess_cfg, model_cfg.vision_cfg.image_size). */
export function preprocessingFromOpenClip(json: Record<string, unknown>, source: string): EncoderPreprocessing {
  const pre = (json['preprocess_cfg'] ?? {}) as Record<string, unknown>;
  const vision = ((json['model_cfg'] as Record<string, unknown> | undefined)?.['vision_cfg'] ?? {}) as Record<string, unknown>;
  const size = side(pre['size'], []) ?? side(vision['image_size'], []) ?? 224;
  const interp = pre['interpolation'];
  return {
    size,
    resize: size,
    interpolation: interp === 'bilinear' || interp === 'nearest' ? interp : 'bicubic',
    mean: triple(pre['mean']) ?? OPENAI_CLIP_PREPROCESSING.mean,
    std: triple(pre['std']) ?? OPENAI_CLIP_PREPROCESSING.std,
    source,
  };
}

/** Preprocessing from cskd's own ONNX metadata (exportOnnx, the stand-in). */
function preprocessingFromMetadata(text: string, source: string): EncoderPreprocessing {
  const p = validatePreprocessing(source, JSON.parse(text) as unknown);
  const k = 255 * p.scale;
  return {
    size: p.size,
    resize: p.resize,
    interpolation: p.interpolation,
    mean: p.mean.map((m) => m / k) as [number, number, number],
    std: p.std.map((s) => s / k) as [number, number, number],
    source,
  };
}

export interface LocatedOnnxModel {
  /** The .onnx file. */
  model: string;
  /** Folders searched for preprocessing configs, nearest first. */
  configDirs: string[];
}

const EXPECTED =
  'an .onnx file, a transformers.js folder (onnx/vision_model.onnx + preprocessor_config.json), ' +
  `an open_clip export folder (visual.onnx or image_encoder.onnx + open_clip_config.json), or 'standin'`;

/** Finds the .onnx file a path names; the error says what was expected and where it looked. */
export function locateOnnxModel(location: string): LocatedOnnxModel {
  const abs = resolve(location);
  if (!existsSync(abs)) throw new Error(`CLIP model not found: ${abs} does not exist (expected ${EXPECTED})`);
  if (statSync(abs).isDirectory()) {
    for (const rel of FOLDER_MODELS) {
      const p = join(abs, rel);
      if (existsSync(p)) return { model: p, configDirs: [dirname(p), abs].filter((d, i, a) => a.indexOf(d) === i) };
    }
    const present = [abs, join(abs, 'onnx')].flatMap((d) => (existsSync(d) && statSync(d).isDirectory() ? readdirSync(d).filter((f) => f.endsWith('.onnx')).map((f) => join(d, f)) : []));
    throw new Error(
      `CLIP model not found in ${abs}: looked for ${FOLDER_MODELS.join(', ')}` +
        (present.length > 0 ? `; the folder has ${present.map((p) => basename(p)).join(', ')} (pass one of those files directly)` : '; the folder has no .onnx file') +
        ` (expected ${EXPECTED})`,
    );
  }
  if (!abs.endsWith('.onnx')) throw new Error(`CLIP model ${abs} is not an .onnx file (expected ${EXPECTED}; safetensors weights run on the native engine)`);
  const dir = dirname(abs);
  return { model: abs, configDirs: [dir, dirname(dir)].filter((d, i, a) => a.indexOf(d) === i) };
}

/** The preprocessing the model comes with, and where it was found. */
export function findPreprocessing(located: LocatedOnnxModel, props: Record<string, string>): EncoderPreprocessing {
  if (props['preprocessing']) return preprocessingFromMetadata(props['preprocessing'], `${located.model} (metadata)`);
  for (const dir of located.configDirs) {
    const hfPath = join(dir, 'preprocessor_config.json');
    const hf = readJson(hfPath);
    if (hf) return preprocessingFromHf(hf, hfPath);
    const ocPath = join(dir, 'open_clip_config.json');
    const oc = readJson(ocPath);
    if (oc) return preprocessingFromOpenClip(oc, ocPath);
  }
  return { ...OPENAI_CLIP_PREPROCESSING, source: `${OPENAI_CLIP_PREPROCESSING.source}: no preprocessor_config.json or open_clip_config.json in ${located.configDirs.join(' or ')}` };
}

async function modelHash(model: string): Promise<string> {
  const parts = [await sha256File(model)];
  for (const extra of [`${model}_data`, `${model}.data`]) if (existsSync(extra)) parts.push(await sha256File(extra));
  return parts.length === 1 ? parts[0]! : sha256(parts.join(','));
}

function tensorMeta(m: Ort.InferenceSession.ValueMetadata | undefined): Ort.InferenceSession.TensorValueMetadata | null {
  return m && m.isTensor ? m : null;
}

export class OnnxClipEncoder implements ClipEncoder {
  readonly engine = 'onnxruntime' as const;
  readonly #session: Ort.InferenceSession;
  readonly #input: string;
  readonly #output: string;
  /** A fixed batch dimension in the model, or null when it is dynamic. */
  readonly #fixedBatch: number | null;

  private constructor(
    readonly name: string,
    readonly modelPath: string,
    readonly modelHash: string,
    readonly dim: number,
    readonly preprocessing: EncoderPreprocessing,
    readonly standIn: boolean,
    readonly description: string,
    session: Ort.InferenceSession,
    input: string,
    output: string,
    fixedBatch: number | null,
  ) {
    this.#session = session;
    this.#input = input;
    this.#output = output;
    this.#fixedBatch = fixedBatch;
  }

  static async open(location: string, opts: OnnxEncoderOptions = {}): Promise<OnnxClipEncoder> {
    const located = locateOnnxModel(location);
    const bytes = readFileSync(located.model);
    let props: Record<string, string>;
    try {
      props = readMetadataProps(bytes);
    } catch (e) {
      throw new Error(`CLIP model ${located.model} is not an ONNX file (${(e as Error).message})`, { cause: e });
    }
    const found = findPreprocessing(located, props);
    const preprocessing: EncoderPreprocessing = opts.preprocessing ? { ...found, ...opts.preprocessing, source: `${found.source}, overridden by the caller` } : found;
    if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 0)) throw new RangeError(`OnnxClipEncoder: threads must be a non-negative integer, got ${opts.threads}`);
    const ort = await loadOnnxRuntime(`CLIP model ${located.model}`);
    let session: Ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(located.model, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: opts.threads ?? 0,
        interOpNumThreads: 1,
        // Warnings about the model's own initializers are not the user's to act on.
        logSeverityLevel: 3,
      });
    } catch (e) {
      throw new Error(`CLIP model ${located.model}: onnxruntime cannot load it (${(e as Error).message})`, { cause: e });
    }
    try {
      const where = located.model;
      const inputs = session.inputNames;
      const input = opts.input ?? (inputs.length === 1 ? inputs[0]! : undefined);
      if (input === undefined || !inputs.includes(input)) {
        throw new Error(`CLIP model ${where}: ${opts.input ? `has no input '${opts.input}'` : 'has several inputs'}; inputs are ${inputs.join(', ')} (expected one image input [batch, 3, H, W])`);
      }
      const inMeta = tensorMeta(session.inputMetadata[inputs.indexOf(input)]);
      if (inMeta && inMeta.type !== 'float32') throw new Error(`CLIP model ${where}: input '${input}' is ${inMeta.type}; expected float32 pixel values`);
      const inShape = inMeta?.shape ?? [];
      if (inShape.length !== 0 && (inShape.length !== 4 || (typeof inShape[1] === 'number' && inShape[1] !== 3))) {
        throw new Error(`CLIP model ${where}: input '${input}' has shape [${inShape.join(', ')}]; expected [batch, 3, H, W]`);
      }
      const H = inShape[2];
      if (typeof H === 'number' && H !== preprocessing.size) {
        throw new Error(`CLIP model ${where}: input '${input}' is ${H} px but the preprocessing (${preprocessing.source}) crops ${preprocessing.size} px`);
      }
      const outputs = session.outputNames;
      let output: string | undefined;
      if (opts.output !== undefined) {
        if (!outputs.includes(opts.output)) throw new Error(`CLIP model ${where}: has no output '${opts.output}'; outputs are ${outputs.join(', ')}`);
        output = opts.output;
      } else {
        output = EMBEDDING_OUTPUTS.find((n) => outputs.includes(n)) ?? (outputs.length === 1 ? outputs[0] : undefined);
        if (output === undefined) {
          throw new Error(`CLIP model ${where}: none of its outputs (${outputs.join(', ')}) is an embedding output (${EMBEDDING_OUTPUTS.join(', ')}); name one with the output option`);
        }
      }
      const outShape = tensorMeta(session.outputMetadata[outputs.indexOf(output)])?.shape ?? [];
      if (outShape.length !== 0 && outShape.length !== 2) {
        throw new Error(`CLIP model ${where}: output '${output}' has shape [${outShape.join(', ')}]; an embedding must be [batch, D] (pooled features, not per-token states)`);
      }
      const fixedBatch = typeof inShape[0] === 'number' && inShape[0] > 0 ? inShape[0] : null;
      let dim = typeof outShape[1] === 'number' ? outShape[1] : 0;
      if (dim === 0) {
        // Symbolic width: learn it from one blank image.
        const b = fixedBatch ?? 1;
        const probe = await session.run({ [input]: new (onnxRuntime().Tensor)('float32', new Float32Array(b * 3 * preprocessing.size ** 2), [b, 3, preprocessing.size, preprocessing.size]) }, [output]);
        const dims = probe[output]!.dims;
        if (dims.length !== 2) throw new Error(`CLIP model ${where}: output '${output}' came out [${dims.join(', ')}]; an embedding must be [batch, D]`);
        dim = dims[1]!;
      }
      const standIn = props['stand_in'] === 'true';
      const hash = await modelHash(located.model);
      const label = standIn ? `${props['description'] ?? 'STAND-IN (not CLIP)'}` : basename(located.model);
      const description = `${label} via onnxruntime (output '${output}', ${dim}-d, ${preprocessing.size} px; preprocessing from ${preprocessing.source})`;
      return new OnnxClipEncoder(opts.name ?? location, located.model, hash, dim, preprocessing, standIn, description, session, input, output, fixedBatch);
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  async encode(pixels: Float32Array, batch: number): Promise<Float32Array> {
    const S = this.preprocessing.size;
    checkBatch('OnnxClipEncoder.encode', pixels, batch, S);
    // A model exported with a fixed batch runs in chunks of it, the last one padded.
    const step = this.#fixedBatch ?? batch;
    const out = new Float32Array(batch * this.dim);
    const per = 3 * S * S;
    for (let b0 = 0; b0 < batch; b0 += step) {
      const n = Math.min(step, batch - b0);
      let chunk = pixels.subarray(b0 * per, (b0 + n) * per);
      if (n < step) {
        const padded = new Float32Array(step * per);
        padded.set(chunk);
        chunk = padded;
      }
      const result = await this.#session.run({ [this.#input]: new (onnxRuntime().Tensor)('float32', chunk, [step, 3, S, S]) }, [this.#output]);
      const t = result[this.#output]!;
      if (t.dims.length !== 2 || t.dims[0] !== step || t.dims[1] !== this.dim) {
        throw new Error(`CLIP model ${this.modelPath}: output '${this.#output}' came out [${t.dims.join(', ')}], expected [${step}, ${this.dim}]`);
      }
      out.set((t.data as Float32Array).subarray(0, n * this.dim), b0 * this.dim);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#session.release();
  }
}
