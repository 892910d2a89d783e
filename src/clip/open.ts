// One entry point for "the CLIP model the user named": 'standin', an ONNX
// model (file or folder) for onnxruntime, or safetensors weights for cskd's
// own engine.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import type { ClipImportOptions } from '../nn/clip.js';
import type { ClipEncoder, ClipEngineName } from './encoder.js';
import { FOLDER_WEIGHTS, NativeClipEncoder } from './native_encoder.js';
import { FOLDER_MODELS, OnnxClipEncoder, type OnnxEncoderOptions } from './onnx_encoder.js';
import { ensureStandinOnnx, STANDIN_NAME } from './standin.js';

export interface OpenClipOptions extends OnnxEncoderOptions {
  /** Force an engine (default: onnxruntime for .onnx and ONNX folders, native for safetensors). */
  engine?: ClipEngineName;
  /** Where the stand-in's converted ONNX is cached (default ~/.cache/cskd/models). */
  cacheDir?: string;
  /** Options for the native engine's import. */
  native?: ClipImportOptions;
}

function wantsNative(location: string): boolean {
  const abs = resolve(location);
  if (abs.endsWith('.safetensors')) return true;
  if (!existsSync(abs) || !statSync(abs).isDirectory()) return false;
  const hasOnnx = FOLDER_MODELS.some((f) => existsSync(join(abs, f)));
  return !hasOnnx && FOLDER_WEIGHTS.some((f) => existsSync(join(abs, f)));
}

/** Opens the encoder `location` names ('standin' is the offline stand-in, which is not CLIP). */
export async function openClipEncoder(location: string, opts: OpenClipOptions = {}): Promise<ClipEncoder> {
  if (location === STANDIN_NAME) {
    if (opts.engine === 'native') throw new Error(`the stand-in is a CNN; it runs on onnxruntime only`);
    return OnnxClipEncoder.open(ensureStandinOnnx(opts.cacheDir), { ...opts, name: STANDIN_NAME });
  }
  const engine = opts.engine ?? (wantsNative(location) ? 'native' : 'onnxruntime');
  if (engine === 'native') return NativeClipEncoder.open(location, { ...opts.native, name: opts.name ?? location });
  return OnnxClipEncoder.open(location, opts);
}
