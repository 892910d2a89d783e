// What an exported model says about itself, in ONNX metadata_props, so that
// any ONNX runtime can score with it without cskd: how to turn an image into
// `pixel_values`, what the score bins are worth, and the model's config.
// Values are strings (the ONNX format); structured ones are JSON.
//
//   producer, producer_version   'cskd' and the package version
//   format_version               version of this metadata layout ('1')
//   task                         'score' (outputs logits, distribution, mean) or 'embedding'
//   preprocessing                JSON OnnxPreprocessing
//   score_bins                   JSON number[] (score of each bin; 'score' models only)
//   model_config                 JSON: { encoder: VitConfig, head: {...} | null, ... }
import { readFileSync } from 'node:fs';

import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const METADATA_FORMAT_VERSION = '1';

export type OnnxTask = 'score' | 'embedding';

export type Interpolation = 'bicubic' | 'bilinear' | 'nearest' | 'lanczos3';

/**
 * How an RGB image becomes one row of `pixel_values` [batch, 3, size, size]:
 * resize the shorter side to `resize` with `interpolation`, crop the centre
 * size×size, scale to [0, 1] (× `scale`), then (x − mean) / std per channel.
 */
export interface OnnxPreprocessing {
  size: number;
  resize: number;
  crop: 'center';
  interpolation: Interpolation;
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
  channels: 'RGB';
  layout: 'NCHW';
}

export interface OnnxModelMetadata {
  producer: string;
  producerVersion: string;
  formatVersion: string;
  /** The default-domain opset the model was written for. */
  opset: number;
  task: OnnxTask;
  preprocessing: OnnxPreprocessing;
  /** Score of each bin ('score' models); null for embedding models. */
  scoreBins: number[] | null;
  modelConfig: Record<string, unknown>;
  inputNames: string[];
  outputNames: string[];
  /** Every metadata_props entry as written. */
  props: Record<string, string>;
}

function parseJson(source: string, key: string, text: string | undefined): unknown {
  if (text === undefined) throw new Error(`readOnnxMetadata: ${source} has no '${key}' in metadata_props (not exported by cskd?)`);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new Error(`readOnnxMetadata: ${source}: metadata '${key}' is not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

function isNumberTriple(v: unknown): v is [number, number, number] {
  return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

/** Checks a preprocessing record (as written or as read back); returns it typed. */
export function validatePreprocessing(op: string, p: unknown): OnnxPreprocessing {
  const r = p as Partial<OnnxPreprocessing> | null;
  const bad = (what: string): never => {
    throw new RangeError(`${op}: preprocessing.${what}`);
  };
  if (typeof r !== 'object' || r === null) return bad(' must be an object');
  if (!Number.isInteger(r.size) || (r.size as number) <= 0) bad(`size must be a positive integer, got ${String(r.size)}`);
  if (!Number.isInteger(r.resize) || (r.resize as number) < (r.size as number)) bad(`resize must be an integer ≥ size (${String(r.size)}), got ${String(r.resize)}`);
  if (r.crop !== 'center') bad(`crop must be 'center', got ${String(r.crop)}`);
  if (!['bicubic', 'bilinear', 'nearest', 'lanczos3'].includes(r.interpolation as string)) bad(`interpolation '${String(r.interpolation)}' is not one of bicubic, bilinear, nearest, lanczos3`);
  if (typeof r.scale !== 'number' || !(r.scale > 0)) bad(`scale must be a positive number, got ${String(r.scale)}`);
  if (!isNumberTriple(r.mean)) bad('mean must be three finite numbers');
  if (!isNumberTriple(r.std) || !(r.std as number[]).every((s) => s > 0)) bad('std must be three positive numbers');
  if (r.channels !== 'RGB') bad(`channels must be 'RGB', got ${String(r.channels)}`);
  if (r.layout !== 'NCHW') bad(`layout must be 'NCHW', got ${String(r.layout)}`);
  return r as OnnxPreprocessing;
}

/** Reads the metadata of an ONNX model held in memory. */
export function parseOnnxMetadata(bytes: Uint8Array, source = 'buffer'): OnnxModelMetadata {
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new Error(`readOnnxMetadata: ${source} is not an ONNX model (${(e as Error).message})`, { cause: e });
  }
  const props: Record<string, string> = {};
  for (const entry of model.metadataProps) props[entry.key ?? ''] = entry.value ?? '';
  const task = props['task'];
  if (task !== 'score' && task !== 'embedding') throw new Error(`readOnnxMetadata: ${source}: metadata 'task' must be 'score' or 'embedding', got ${String(task)}`);
  const preprocessing = validatePreprocessing(`readOnnxMetadata: ${source}`, parseJson(source, 'preprocessing', props['preprocessing']));
  let scoreBins: number[] | null = null;
  if (task === 'score') {
    const bins = parseJson(source, 'score_bins', props['score_bins']);
    if (!Array.isArray(bins) || bins.length === 0 || !bins.every((b) => typeof b === 'number' && Number.isFinite(b))) {
      throw new Error(`readOnnxMetadata: ${source}: metadata 'score_bins' must be a non-empty array of numbers`);
    }
    scoreBins = bins as number[];
  }
  const modelConfig = parseJson(source, 'model_config', props['model_config']);
  if (typeof modelConfig !== 'object' || modelConfig === null || Array.isArray(modelConfig)) {
    throw new Error(`readOnnxMetadata: ${source}: metadata 'model_config' must be a JSON object`);
  }
  const opset = model.opsetImport.find((o) => !o.domain)?.version;
  const graph = model.graph;
  return {
    producer: model.producerName,
    producerVersion: model.producerVersion,
    formatVersion: props['format_version'] ?? '',
    opset: opset === undefined || opset === null ? 0 : Number(opset),
    task,
    preprocessing,
    scoreBins,
    modelConfig: modelConfig as Record<string, unknown>,
    inputNames: (graph?.input ?? []).map((v) => v.name ?? ''),
    outputNames: (graph?.output ?? []).map((v) => v.name ?? ''),
    props,
  };
}

/** Reads the metadata of an .onnx file written by exportOnnx. */
export function readOnnxMetadata(path: string): OnnxModelMetadata {
  return parseOnnxMetadata(readFileSync(path), path);
}
