// A frozen CLIP image encoder run by cskd's own ViT engine: the vision tower
// of a local Hugging Face or open_clip safetensors file, imported by
// src/nn/clip.ts. Same interface and same embeddings as the onnxruntime path
// for the same weights (test/clip/engines.test.ts checks it); it runs where
// our kernels run, and inference saves nothing for backward.
// The forward is one synchronous call per batch on the JS thread.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { type ClipImportOptions, type ClipVisionModel, importClipVision } from '../nn/clip.js';
import { Arena } from '../tensor/arena.js';
import { checkBatch, type ClipEncoder, type EncoderPreprocessing } from './encoder.js';
import { sha256File } from './files.js';

/** Weight files tried in order inside a folder. */
export const FOLDER_WEIGHTS = ['model.safetensors', 'open_clip_model.safetensors', 'open_clip_pytorch_model.safetensors'] as const;

export function locateSafetensors(location: string): string {
  const abs = resolve(location);
  if (!existsSync(abs)) throw new Error(`CLIP weights not found: ${abs} does not exist (expected a CLIP .safetensors file, Hugging Face or open_clip layout, or a folder holding ${FOLDER_WEIGHTS.join(' or ')})`);
  if (statSync(abs).isDirectory()) {
    for (const f of FOLDER_WEIGHTS) if (existsSync(join(abs, f))) return join(abs, f);
    throw new Error(`CLIP weights not found in ${abs}: looked for ${FOLDER_WEIGHTS.join(', ')}`);
  }
  if (!abs.endsWith('.safetensors')) throw new Error(`CLIP weights ${abs} are not a .safetensors file (the native engine reads safetensors; .onnx files run on onnxruntime)`);
  return abs;
}

export class NativeClipEncoder implements ClipEncoder {
  readonly engine = 'native' as const;
  readonly standIn = false;
  readonly #arena = new Arena('clip-features');

  private constructor(
    readonly name: string,
    readonly model: ClipVisionModel,
    readonly modelHash: string,
    readonly preprocessing: EncoderPreprocessing,
    readonly description: string,
  ) {}

  get dim(): number {
    return this.model.config.projectionDim;
  }

  static async open(location: string, opts: ClipImportOptions & { name?: string } = {}): Promise<NativeClipEncoder> {
    const path = locateSafetensors(location);
    const model = importClipVision(path, opts);
    const p = model.preprocessing;
    const preprocessing: EncoderPreprocessing = {
      size: p.size,
      resize: p.size,
      interpolation: p.interpolation,
      mean: p.mean,
      std: p.std,
      source: `${path} (config files beside it, else OpenAI CLIP's values)`,
    };
    const c = model.config;
    const description = `${path} via cskd's engine (${model.layout} layout, ViT width ${c.embedDim}, depth ${c.depth}, patch ${c.patchSize}, ${c.projectionDim}-d, ${c.imgSize} px)`;
    return new NativeClipEncoder(opts.name ?? location, model, await sha256File(path), preprocessing, description);
  }

  encode(pixels: Float32Array, batch: number): Promise<Float32Array> {
    const S = this.preprocessing.size;
    checkBatch('NativeClipEncoder.encode', pixels, batch, S);
    const images = this.#arena.alloc([batch, 3, S, S]);
    images.data.set(pixels);
    const out = this.model.forward(images, { arena: this.#arena, training: false });
    const result = Float32Array.from(out.data);
    this.#arena.reset();
    return Promise.resolve(result);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

