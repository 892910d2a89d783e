// A tiny exported score model and a folder of test images, good and bad, shared by the score tests.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import sharp from 'sharp';

import { ScoreHead } from '../../src/nn/heads.js';
import { ParameterSet } from '../../src/nn/parameters.js';
import { VIT_DEFAULTS, VisionTransformer, type VitConfig } from '../../src/nn/vit.js';
import { exportOnnx } from '../../src/onnx/export.js';
import type { OnnxPreprocessing } from '../../src/onnx/metadata.js';
import { encodePng, solid } from '../data/images.js';
import { Rng, randomizeWeights } from '../helpers/numeric.js';

export const MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

export const TINY: VitConfig = { ...VIT_DEFAULTS, imgSize: 32, patchSize: 8, embedDim: 64, depth: 2, numHeads: 2 };

/** Random weights large enough that different images get clearly different distributions. */
export function randomScoreModel(config: VitConfig, seed: number, bins = 10): { vit: VisionTransformer; head: ScoreHead; params: ParameterSet } {
  const params = new ParameterSet();
  const vit = new VisionTransformer(params, config);
  const head = new ScoreHead(params, config.embedDim, bins, config.depth + 1);
  randomizeWeights(params, new Rng(seed));
  return { vit, head, params };
}

/** Exports a tiny 32 px score model (resize 36, centre crop 32) to dir/name. */
export async function tinyModel(dir: string, name = 'tiny.onnx', preprocessing: Partial<OnnxPreprocessing> = {}, bins?: number[]): Promise<string> {
  const m = randomScoreModel(TINY, 11, bins?.length ?? 10);
  const path = join(dir, name);
  await exportOnnx(path, { encoder: m.vit, head: m.head, preprocessing: { mean: MEAN, std: STD, resize: 36, ...preprocessing }, ...(bins ? { scoreBins: bins } : {}) });
  return path;
}

/** A w×h JPEG of smooth colour ramps plus a per-seed pattern, so images differ. */
export async function photoJpeg(w: number, h: number, seed: number): Promise<Buffer> {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = 3 * (y * w + x);
      px[i] = (x * 255) / w;
      px[i + 1] = (y * 255) / h;
      px[i + 2] = (((x * seed + y * 7) % 97) * 255) / 97;
    }
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

export interface ImageSet {
  good: string[];
  /** Path → expected error kind. */
  bad: Map<string, string>;
}

/**
 * Writes good images (JPEG, RGBA PNG, grayscale, 16-bit, CMYK, animated GIF, a
 * JPEG without an extension) and one bad file of each kind under dir.
 */
export async function writeImageSet(dir: string): Promise<ImageSet> {
  mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  mkdirSync(join(dir, 'bad'), { recursive: true });
  const good: string[] = [];
  const put = (rel: string, bytes: Buffer | string): string => {
    const p = join(dir, rel);
    writeFileSync(p, bytes);
    return p;
  };
  for (let i = 0; i < 4; i++) good.push(put(`photo${i}.jpg`, await photoJpeg(60 + 10 * i, 45 + 7 * i, i + 1)));
  good.push(put('sub/rgba.png', encodePng(solid(40, 30, [200, 40, 40, 128]), 40, 30, 6, 8)));
  good.push(put('sub/gray.png', encodePng(solid(50, 50, [90]), 50, 50, 0, 8)));
  good.push(put('sub/deep16.png', encodePng(solid(40, 40, [0x1234, 0x5678, 0x9abc]), 40, 40, 2, 16)));
  good.push(put('sub/deeper/cmyk.jpg', await sharp(await photoJpeg(48, 48, 5)).toColourspace('cmyk').jpeg().toBuffer()));
  const red = await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
  const blue = await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 0, g: 0, b: 255 } } }).png().toBuffer();
  good.push(put('sub/deeper/anim.gif', await sharp([red, blue], { join: { animated: true } }).gif().toBuffer()));
  good.push(put('sub/no-extension', await photoJpeg(64, 48, 9)));
  const bad = new Map<string, string>();
  const jpg = await photoJpeg(120, 90, 3);
  bad.set(put('bad/truncated.jpg', jpg.subarray(0, Math.floor(jpg.length * 0.5))), 'truncated');
  bad.set(put('bad/empty.jpg', Buffer.alloc(0)), 'zero-byte');
  bad.set(put('bad/caption.jpg', 'this is a caption, not a photo\n'), 'not-an-image');
  // A PNG whose header claims 100 000 × 100 000 pixels.
  bad.set(put('bad/bomb.png', encodePng(solid(4, 4, [1, 2, 3]), 4, 4, 2, 8, { width: 100_000, height: 100_000 })), 'too-large');
  return { good, bad };
}
