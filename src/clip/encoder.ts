// What phase 1 needs from a frozen CLIP image encoder, whichever engine runs
// it: a batch of preprocessed images in, one embedding per image out, plus
// what identifies the model (a hash of its weights) and how images must be
// prepared. The feature store stamps itself with both.
import type { Interpolation } from '../onnx/metadata.js';
import type { Geometry, ViewSpec } from '../data/transforms.js';

/**
 * How an RGB image becomes the encoder's input [3, size, size]: resize the
 * shorter side to `resize`, centre-crop size×size, then (x/255 − mean)/std per
 * channel (mean and std on the [0, 1] scale, as CLIP's configs give them).
 */
export interface EncoderPreprocessing {
  size: number;
  resize: number;
  interpolation: Interpolation;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  /** Where these values came from (a config file, the model's metadata, a default). */
  source: string;
}

export type ClipEngineName = 'onnxruntime' | 'native';

export interface ClipEncoder {
  /** What the user named (a path, or 'standin'). */
  readonly name: string;
  readonly engine: ClipEngineName;
  /** SHA-256 of the weights file(s): what the feature store is stamped with. */
  readonly modelHash: string;
  /** Width of the embedding. */
  readonly dim: number;
  readonly preprocessing: EncoderPreprocessing;
  /** True for the offline stand-in, which is not CLIP. */
  readonly standIn: boolean;
  /** One line for logs: the model, its engine, the output used. */
  readonly description: string;
  /** Embeddings [batch, dim] of `batch` preprocessed images packed as [batch, 3, size, size]. */
  encode(pixels: Float32Array, batch: number): Promise<Float32Array>;
  close(): Promise<void>;
}

/** The OpenAI CLIP preprocessing (bicubic resize of the shorter side to 224, centre crop). */
export const OPENAI_CLIP_PREPROCESSING: EncoderPreprocessing = {
  size: 224,
  resize: 224,
  interpolation: 'bicubic',
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
  source: 'default (OpenAI CLIP)',
};

/**
 * The data pipeline's view that produces this encoder's input: its size and
 * normalisation, centre crop by default (CLIP's own evaluation view). A
 * different geometry (e.g. a mild random crop) may be given; flips are off
 * unless asked for. Note that cskd's decoder resizes with a cubic kernel
 * whatever `interpolation` says.
 */
export function encoderView(p: EncoderPreprocessing, opts: { geometry?: Geometry; flipProbability?: number } = {}): ViewSpec {
  return {
    size: p.size,
    geometry: opts.geometry ?? { kind: 'center', resize: p.resize },
    flipProbability: opts.flipProbability ?? 0,
    normalization: { name: 'encoder', mean: p.mean, std: p.std },
  };
}

/** Checks a packed batch against the encoder's input size. */
export function checkBatch(op: string, pixels: Float32Array, batch: number, size: number): void {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`${op}: batch must be a positive integer, got ${batch}`);
  const want = batch * 3 * size * size;
  if (pixels.length !== want) throw new RangeError(`${op}: ${pixels.length} values for ${batch} images of [3, ${size}, ${size}] (expected ${want})`);
}
