// Decoding with sharp. Every input becomes 8-bit sRGB with no alpha:
// EXIF orientation applied, alpha composited on white, grayscale/CMYK/16-bit
// converted by libvips (CMYK through its built-in profile), animated
// GIF/WebP reduced to the first frame. Failures become an ImageFileError of
// one of six kinds, decided from the file itself where possible rather than
// from libvips's wording, which changes between versions.
import { readFile } from 'node:fs/promises';

import sharp, { type Metadata, type Sharp } from 'sharp';

import { native } from '../native.js';
import { ImageFileError } from './errors.js';
import type { Rng } from '../util/rng.js';
import { normalizeToChw, sampleViewParams, validateViewSpec, type ViewParams, type ViewSpec } from './transforms.js';

/** 50 megapixels: above any camera in common use, far below what would exhaust memory in a few parallel decodes. */
export const DEFAULT_MAX_PIXELS = 50_000_000;

export interface DecodeOptions {
  /** Refuse images with more pixels than this (decompression bombs); passed to sharp as limitInputPixels too. */
  maxPixels?: number;
}

/** A file read and its header checked, ready to render any number of views from. */
export interface SourceImage {
  path: string;
  buffer: Buffer;
  format: string;
  /** Size after EXIF orientation. */
  width: number;
  height: number;
  maxPixels: number;
  /** Set when `buffer` holds raw RGB pixels (a pre-resized cache entry) rather than a file. */
  raw?: { width: number; height: number; channels: 3 };
}

const WHITE = { r: 255, g: 255, b: 255 };

/** What a header said about a file, for callers that open it again (a loader's later epochs). */
export interface KnownHeader {
  format: string;
  width: number;
  height: number;
  size: number;
}

/**
 * Reads a file and its header: missing, zero-byte, unreadable, not-an-image
 * and too-large are caught here. With `known` (what an earlier open of the
 * same file returned, matched by byte size), the header is not parsed again.
 */
export async function openImage(path: string, options: DecodeOptions = {}, known?: KnownHeader): Promise<SourceImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  let buffer: Buffer;
  try {
    buffer = await readFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') throw new ImageFileError(path, 'missing', 'no such file');
    throw new ImageFileError(path, 'unreadable', err.code ?? err.message);
  }
  if (buffer.length === 0) throw new ImageFileError(path, 'zero-byte', 'file is empty');
  if (known && known.size === buffer.length) {
    return { path, buffer, format: known.format, width: known.width, height: known.height, maxPixels };
  }
  let meta: Metadata;
  try {
    meta = await sharp(buffer, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw classifyDecodeError(path, buffer, e as Error);
  }
  const { width, height } = headerSize(path, meta, maxPixels);
  return { path, buffer, format: meta.format, width, height, maxPixels };
}

/** The sharp pipeline for one view; exported for the loader's sharp-only comparison and for tests. */
export function viewPipeline(src: SourceImage, spec: ViewSpec, p: ViewParams): Sharp {
  let img = src.raw
    ? sharp(src.buffer, { raw: src.raw })
    : sharp(src.buffer, { limitInputPixels: src.maxPixels, failOn: 'warning' }).autoOrient();
  // Catmull-Rom cubic, the kernel PIL's BICUBIC (CLIP's preprocessing) uses.
  if (p.resizeTo) {
    img = img.resize(p.resizeTo.width, p.resizeTo.height, { fit: 'fill', kernel: 'cubic' }).extract(p.crop);
  } else {
    img = img.extract(p.crop).resize(spec.size, spec.size, { fit: 'fill', kernel: 'cubic' });
  }
  if (p.flip) img = img.flop();
  if (p.brightness !== 1 || p.saturation !== 1) img = img.modulate({ brightness: p.brightness, saturation: p.saturation });
  return img.flatten({ background: WHITE }).toColourspace('srgb').removeAlpha().raw({ depth: 'uchar' });
}

/**
 * The image decoded once, oriented, flattened to RGB and resized so its
 * shorter side is `shorterSide` (never enlarged), held as raw pixels: views
 * render from it without decoding the file again. The views then resample
 * twice (here and in the view), so they differ slightly from views of the file.
 */
export async function preResize(src: SourceImage, shorterSide: number): Promise<SourceImage> {
  const scale = Math.min(1, shorterSide / Math.min(src.width, src.height));
  const width = Math.max(1, Math.round(src.width * scale));
  const height = Math.max(1, Math.round(src.height * scale));
  try {
    const { data, info } = await sharp(src.buffer, { limitInputPixels: src.maxPixels, failOn: 'warning' })
      .autoOrient()
      .resize(width, height, { fit: 'fill', kernel: 'cubic' })
      .flatten({ background: WHITE })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return { path: src.path, buffer: data, format: 'raw', width: info.width, height: info.height, maxPixels: src.maxPixels, raw: { width: info.width, height: info.height, channels: 3 } };
  } catch (e) {
    throw classifyDecodeError(src.path, src.buffer, e as Error);
  }
}

/** Decodes to HWC uint8 RGB at the view's size. */
export async function renderViewRgb(src: SourceImage, spec: ViewSpec, rng: Rng): Promise<{ rgb: Buffer; width: number; height: number }> {
  const params = sampleViewParams(spec, src.width, src.height, rng);
  try {
    const { data, info } = await viewPipeline(src, spec, params).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { rgb: data, width: info.width, height: info.height };
  } catch (e) {
    throw classifyDecodeError(src.path, src.raw ? null : src.buffer, e as Error);
  }
}

/**
 * Where each output pixel of a view samples a raw source, per axis:
 * [origin, step, lo, hi] (see native/cpu/resample.h). Center views resize the
 * whole image then cut the crop (edges clamp at the image); random crops cut
 * then resize (edges clamp at the crop), as the sharp pipeline does.
 */
export function viewAxes(width: number, height: number, size: number, p: ViewParams): Float64Array {
  const { crop, resizeTo } = p;
  if (resizeTo) {
    const sx = width / resizeTo.width;
    const sy = height / resizeTo.height;
    return Float64Array.of(crop.left * sx, sx, 0, width - 1, crop.top * sy, sy, 0, height - 1);
  }
  return Float64Array.of(crop.left, crop.width / size, crop.left, crop.left + crop.width - 1, crop.top, crop.height / size, crop.top, crop.top + crop.height - 1);
}

/**
 * A view of a pre-resized cache entry rendered by the addon (Catmull-Rom,
 * 8-bit rounding, normalisation in one pass, off the JS thread): about a
 * sixth of a sharp pipeline's time per view at demo sizes, which is what lets small
 * models train without waiting for data. Not used with colour jitter.
 */
async function renderRawView(src: SourceImage, spec: ViewSpec, p: ViewParams, out: Float32Array, offset: number): Promise<Float32Array> {
  const raw = src.raw!;
  const n = spec.normalization;
  const norm = Float64Array.of(...n.mean, ...n.std);
  await native.renderRawView(src.buffer, raw.width, raw.height, viewAxes(raw.width, raw.height, spec.size, p), spec.size, p.flip, norm, out, offset);
  return out;
}

/** One view as normalised CHW float32, written at out[offset ..]. */
export async function renderView(src: SourceImage, spec: ViewSpec, rng: Rng, out?: Float32Array, offset = 0): Promise<Float32Array> {
  if (src.raw && !spec.colourJitter) {
    const params = sampleViewParams(spec, src.width, src.height, rng);
    return renderRawView(src, spec, params, out ?? new Float32Array(3 * spec.size * spec.size), offset);
  }
  const { rgb, width, height } = await renderViewRgb(src, spec, rng);
  // Cannot happen for a spec that passed validateViewSpec (center resize ≥ size).
  if (width !== spec.size || height !== spec.size) throw new RangeError(`view of ${src.path} came out ${width}×${height}, not ${spec.size}²`);
  return normalizeToChw(rgb, width, height, spec.normalization, out, offset);
}

/** Convenience: open + one view. */
export async function decodeImage(path: string, spec: ViewSpec, rng: Rng, options: DecodeOptions = {}): Promise<Float32Array> {
  validateViewSpec(spec);
  return renderView(await openImage(path, options), spec, rng);
}

/** Whether the bytes stop before the format's end marker (JPEG EOI, PNG IEND, GIF trailer, RIFF length). */
export function looksTruncated(buffer: Buffer): boolean {
  const n = buffer.length;
  if (n >= 3 && buffer[0] === 0xff && buffer[1] === 0xd8 && buffer[2] === 0xff) {
    // Some encoders pad after EOI; accept it anywhere in the last 1 KiB.
    return buffer.subarray(Math.max(0, n - 1024)).lastIndexOf(Buffer.from([0xff, 0xd9])) < 0;
  }
  if (n >= 8 && buffer.readUInt32BE(0) === 0x89504e47) return buffer.subarray(Math.max(0, n - 64)).indexOf('IEND') < 0;
  if (n >= 6 && buffer.subarray(0, 3).toString('latin1') === 'GIF') return buffer[n - 1] !== 0x3b;
  if (n >= 12 && buffer.subarray(0, 4).toString('latin1') === 'RIFF') return buffer.readUInt32LE(4) + 8 > n;
  return false;
}

/** What a sharp failure means for the image `label`: the bytes decide where they can. */
export function classifyDecodeError(label: string, buffer: Buffer | null, e: Error): ImageFileError {
  if (e instanceof ImageFileError) return e;
  const msg = e.message.split('\n')[0] ?? e.message;
  if (/unsupported image format/i.test(msg)) return new ImageFileError(label, 'not-an-image', 'not a format sharp can read');
  if (/pixel limit/i.test(msg)) return new ImageFileError(label, 'too-large', msg);
  if ((buffer !== null && looksTruncated(buffer)) || /premature end|truncat|unexpected end|end of (file|stream|data)/i.test(msg)) {
    return new ImageFileError(label, 'truncated', msg);
  }
  return new ImageFileError(label, 'unreadable', msg);
}

/** The oriented size from a header, refusing images over the pixel limit. */
export function headerSize(label: string, meta: Metadata, maxPixels: number): { width: number; height: number } {
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) throw new ImageFileError(label, 'unreadable', `header gives no size (${meta.format})`);
  if (width * height > maxPixels) {
    throw new ImageFileError(label, 'too-large', `${width}×${height} = ${width * height} pixels exceeds the limit of ${maxPixels}`);
  }
  return { width, height };
}
