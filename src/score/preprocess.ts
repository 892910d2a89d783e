// Turning one input (a path, the bytes of an image file, or a sharp instance)
// into one row of `pixel_values`, exactly as the model's ONNX metadata says:
// resize the shorter side to `resize`, crop the centre size×size, scale,
// normalise. Failures are ImageFileErrors with the data pipeline's six kinds.
//
// Paths go through src/data's openImage, so a file scores with the same checks
// the training loader applies. Two adapters live here because src/data has no
// equivalent yet:
// - openImageBuffer: openImage's header checks for bytes already in memory
//   (HTTP bodies); the failure classification mirrors decode.ts's.
// - the view pipeline takes the model's interpolation (decode.ts's viewPipeline
//   always resizes with the cubic kernel, which is what `bicubic` means; a test
//   pins the two to the same output for bicubic models).
import sharp, { type KernelEnum, type Metadata, type Sharp } from 'sharp';

import { DEFAULT_MAX_PIXELS, classifyDecodeError, headerSize, openImage } from '../data/decode.js';
import { ImageFileError } from '../data/errors.js';
import { Rng } from '../util/rng.js';
import { normalizeToChw, sampleViewParams, type Normalization, type ViewSpec } from '../data/transforms.js';
import type { Interpolation, OnnxPreprocessing } from '../onnx/metadata.js';

/** What the scorer accepts: a file path, an encoded image in memory, or a sharp pipeline. */
export type ScoreInput = string | Buffer | Uint8Array | Sharp;

export interface PreprocessOptions {
  /** Refuse images with more pixels than this (decompression bombs). Default 50 megapixels. */
  maxPixels?: number;
  /** How the input is named in errors (default: the path, or 'buffer' / 'sharp input'). */
  label?: string;
}

/** An image whose header has been read, ready to render the eval view. */
interface OpenedImage {
  label: string;
  /** The encoded bytes (for the truncation check), when there are any. */
  buffer: Buffer | null;
  /** A fresh pipeline over the full-resolution, upright image. */
  pipeline(): Sharp;
  width: number;
  height: number;
}

const WHITE = { r: 255, g: 255, b: 255 };

const KERNELS: Record<Interpolation, keyof KernelEnum> = {
  // Catmull-Rom cubic, PIL's BICUBIC (what decode.ts's viewPipeline uses).
  bicubic: 'cubic',
  bilinear: 'linear',
  nearest: 'nearest',
  lanczos3: 'lanczos3',
};

export function isSharp(input: unknown): input is Sharp {
  return typeof input === 'object' && input !== null && typeof (input as Sharp).clone === 'function' && typeof (input as Sharp).metadata === 'function';
}

function fromEncoded(label: string, buffer: Buffer, width: number, height: number, maxPixels: number): OpenedImage {
  return {
    label,
    buffer,
    width,
    height,
    pipeline: () => sharp(buffer, { limitInputPixels: maxPixels, failOn: 'warning' }).autoOrient(),
  };
}

/** openImage for bytes in memory: zero-byte, not-an-image, too-large and unreadable are caught from the header. */
export async function openImageBuffer(bytes: Buffer | Uint8Array, label = 'buffer', maxPixels = DEFAULT_MAX_PIXELS): Promise<OpenedImage> {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length === 0) throw new ImageFileError(label, 'zero-byte', 'no bytes');
  let meta: Metadata;
  try {
    meta = await sharp(buffer, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw classifyDecodeError(label, buffer, e as Error);
  }
  const { width, height } = headerSize(label, meta, maxPixels);
  return fromEncoded(label, buffer, width, height, maxPixels);
}

/**
 * A sharp instance is scored as its pipeline outputs pixels (the caller's
 * operations applied, 8-bit sRGB); it is not auto-oriented again, so call
 * .autoOrient() on it when the source carries an EXIF orientation.
 */
async function openSharp(input: Sharp, label: string, maxPixels: number): Promise<OpenedImage> {
  try {
    const meta = await input.metadata();
    if (meta.width && meta.height && meta.width * meta.height > maxPixels) {
      throw new ImageFileError(label, 'too-large', `${meta.width}×${meta.height} = ${meta.width * meta.height} pixels exceeds the limit of ${maxPixels}`);
    }
    const { data, info } = await input.clone().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    const channels = info.channels;
    return {
      label,
      buffer: null,
      width: info.width,
      height: info.height,
      pipeline: () => sharp(data, { raw: { width: info.width, height: info.height, channels } }),
    };
  } catch (e) {
    throw classifyDecodeError(label, null, e as Error);
  }
}

async function open(input: ScoreInput, options: PreprocessOptions): Promise<OpenedImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (typeof input === 'string') {
    const src = await openImage(input, { maxPixels });
    return fromEncoded(options.label ?? input, src.buffer, src.width, src.height, maxPixels);
  }
  if (input instanceof Uint8Array) return openImageBuffer(input, options.label ?? 'buffer', maxPixels);
  if (isSharp(input)) return openSharp(input, options.label ?? 'sharp input', maxPixels);
  throw new TypeError(`score: input must be a path, a Buffer/Uint8Array or a sharp instance, got ${input === null ? 'null' : typeof input}`);
}

/** The eval view of a model's preprocessing, in src/data's terms (scale folded into the normalisation). */
export function evalViewOf(p: OnnxPreprocessing): ViewSpec {
  // (scale·x − mean) / std = (x/255 − mean/(255·scale)) / (std/(255·scale)): one normalisation routine for all scales.
  const k = 255 * p.scale;
  const normalization: Normalization = {
    name: 'model',
    mean: [p.mean[0] / k, p.mean[1] / k, p.mean[2] / k],
    std: [p.std[0] / k, p.std[1] / k, p.std[2] / k],
  };
  return { size: p.size, geometry: { kind: 'center', resize: p.resize }, flipProbability: 0, normalization };
}

/**
 * Decodes `input` and writes its normalised CHW view (3·size·size floats) at
 * out[offset ..]. Throws ImageFileError for a bad image.
 */
export async function preprocess(
  input: ScoreInput,
  p: OnnxPreprocessing,
  options: PreprocessOptions = {},
  out: Float32Array = new Float32Array(3 * p.size * p.size),
  offset = 0,
): Promise<Float32Array> {
  try {
    return await preprocessOpened(await open(input, options), p, out, offset);
  } catch (e) {
    throw sameTextForTruncation(e);
  }
}

/** The detail every truncated image gets, whichever path (file, request body, batch item) it came by. */
export const TRUNCATED_DETAIL = 'the image data ends before the image does (truncated file or upload)';

/**
 * libvips keeps one error buffer per thread, so sharp's text for the same
 * truncated file varies with the decodes running beside it ("premature end of
 * JPEG image" alone, "Warning treated as error due to failOn setting" under
 * load). A truncation is therefore named in fixed words.
 */
function sameTextForTruncation(e: unknown): unknown {
  return e instanceof ImageFileError && e.kind === 'truncated' ? new ImageFileError(e.file, 'truncated', TRUNCATED_DETAIL) : e;
}

async function preprocessOpened(img: OpenedImage, p: OnnxPreprocessing, out: Float32Array, offset: number): Promise<Float32Array> {
  const spec = evalViewOf(p);
  // The centre geometry draws nothing random (only the flip draw, at probability 0).
  const params = sampleViewParams(spec, img.width, img.height, new Rng(0));
  const resizeTo = params.resizeTo as { width: number; height: number };
  let rgb: Buffer;
  try {
    const { data, info } = await img
      .pipeline()
      .resize(resizeTo.width, resizeTo.height, { fit: 'fill', kernel: KERNELS[p.interpolation] })
      .extract(params.crop)
      .flatten({ background: WHITE })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== p.size || info.height !== p.size) {
      throw new Error(`decoded to ${info.width}×${info.height}×${info.channels}, expected ${p.size}×${p.size}×3`);
    }
    rgb = data;
  } catch (e) {
    throw classifyDecodeError(img.label, img.buffer, e as Error);
  }
  return normalizeToChw(rgb, p.size, p.size, spec.normalization, out, offset);
}
