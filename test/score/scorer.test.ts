// The Scorer: its scores must equal an independent onnxruntime session run on
// the tensor src/data's eval view produces; paths, Buffers and sharp
// instances agree; odd but valid images score; bad ones are typed errors;
// scoreMany keeps order, batches and pulls lazily.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openImage, renderView } from '../../src/data/decode.js';
import { ImageFileError } from '../../src/data/errors.js';
import { Rng as DataRng } from '../../src/util/rng.js';
import { ParameterSet } from '../../src/nn/parameters.js';
import { Scorer, type Score } from '../../src/score/scorer.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { Projector } from '../../src/nn/heads.js';
import { VisionTransformer } from '../../src/nn/vit.js';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { tempDir } from '../data/images.js';
import { MEAN, STD, TINY, tinyModel, writeImageSet, type ImageSet } from './fixtures.js';

const { dir, cleanup } = tempDir('cskd-score-');
let modelPath: string;
let scorer: Scorer;
let images: ImageSet;

beforeAll(async () => {
  modelPath = await tinyModel(dir);
  scorer = await Scorer.load(modelPath, { threads: 1, maxBatch: 4 });
  images = await writeImageSet(join(dir, 'images'));
});
afterAll(async () => {
  await scorer?.release();
  cleanup();
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('Scorer against a direct onnxruntime run', () => {
  it('equals onnxruntime on the eval-view tensor of src/data (distribution, mean; std from the bins)', async () => {
    const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    try {
      const paths = images.good.slice(0, 6);
      const S = 32;
      const spec = { size: S, geometry: { kind: 'center' as const, resize: 36 }, flipProbability: 0, normalization: { name: 'm', mean: MEAN, std: STD } };
      const pixels = new Float32Array(paths.length * 3 * S * S);
      for (const [i, p] of paths.entries()) await renderView(await openImage(p), spec, new DataRng(0), pixels, i * 3 * S * S);
      const out = await session.run({ pixel_values: new ort.Tensor('float32', pixels, [paths.length, 3, S, S]) });
      const dist = out['distribution']!.data as Float32Array;
      const means = out['mean']!.data as Float32Array;

      const got: Score[] = await Promise.all(paths.map((p) => scorer.score(p)));
      const spread: number[] = [];
      for (const [i, s] of got.entries()) {
        const ref = dist.subarray(i * 10, (i + 1) * 10);
        expect(maxAbsDiff(s.distribution, ref)).toBeLessThanOrEqual(1e-6);
        expect(Math.abs(s.mean - means[i]!)).toBeLessThanOrEqual(1e-5);
        let v = 0;
        for (let k = 0; k < 10; k++) v += (k + 1 - means[i]!) ** 2 * ref[k]!;
        expect(Math.abs(s.std - Math.sqrt(v))).toBeLessThanOrEqual(1e-5);
        spread.push(s.mean);
      }
      // The comparison means something only if images get different scores.
      expect(Math.max(...spread) - Math.min(...spread)).toBeGreaterThan(0.05);
    } finally {
      await session.release();
    }
  });

  it('preprocess is bit-identical to src/data renderView for a bicubic model', async () => {
    const spec = { size: 32, geometry: { kind: 'center' as const, resize: 36 }, flipProbability: 0, normalization: { name: 'm', mean: MEAN, std: STD } };
    for (const p of images.good) {
      const ref = await renderView(await openImage(p), spec, new DataRng(0));
      expect(maxAbsDiff(await scorer.preprocess(p), ref), p).toBe(0);
    }
  });

  it('a Buffer and a sharp instance score as the path does', async () => {
    const p = images.good[1]!;
    const byPath = await scorer.score(p);
    const byBuffer = await scorer.score(readFileSync(p));
    const bySharp = await scorer.score(sharp(p));
    expect(maxAbsDiff(byBuffer.distribution, byPath.distribution)).toBe(0);
    expect(maxAbsDiff(bySharp.distribution, byPath.distribution)).toBeLessThanOrEqual(1e-6);
    // A sharp pipeline's own operations apply: a flopped image scores differently.
    const flopped = await scorer.score(sharp(p).flop());
    expect(maxAbsDiff(flopped.distribution, byPath.distribution)).toBeGreaterThan(1e-4);
  });

  it('odd but valid images score: RGBA, grayscale, 16-bit, CMYK, animated GIF, no extension', async () => {
    for (const p of images.good) {
      const s = await scorer.score(p);
      expect(s.distribution.reduce((a, b) => a + b, 0), p).toBeCloseTo(1, 5);
      expect(s.mean).toBeGreaterThanOrEqual(1);
      expect(s.mean).toBeLessThanOrEqual(10);
      expect(s.std).toBeGreaterThan(0);
    }
  });

  it('bad images are ImageFileErrors of the right kind, for paths and Buffers', async () => {
    for (const [p, kind] of images.bad) {
      const err = await scorer.score(p).catch((e: unknown) => e);
      expect(err, p).toBeInstanceOf(ImageFileError);
      expect((err as ImageFileError).kind, p).toBe(kind);
      const fromBuffer = await scorer.score(readFileSync(p), 'upload').catch((e: unknown) => e);
      expect((fromBuffer as ImageFileError).kind, `${p} as a Buffer`).toBe(kind);
      expect((fromBuffer as ImageFileError).file).toBe('upload');
    }
    expect(((await scorer.score(join(dir, 'nope.jpg')).catch((e: unknown) => e)) as ImageFileError).kind).toBe('missing');
    expect(((await scorer.score(dir).catch((e: unknown) => e)) as ImageFileError).kind).toBe('unreadable');
    const small = await Scorer.load(modelPath, { threads: 1, maxPixels: 1000 });
    try {
      const err = (await small.score(images.good[0]!).catch((e: unknown) => e)) as ImageFileError;
      expect(err.kind).toBe('too-large');
      expect(((await small.score(sharp(images.good[0]!)).catch((e: unknown) => e)) as ImageFileError).kind).toBe('too-large');
    } finally {
      await small.release();
    }
  });
});

describe('scoreMany', () => {
  it('yields every input once, in order, tagged, with errors per item; batches for the model', async () => {
    const inputs = [...images.good, ...images.bad.keys(), images.good[0]!];
    const before = { ...scorer.stats };
    const seen: string[] = [];
    for await (const item of scorer.scoreMany(inputs, { batchSize: 4, concurrency: 2 })) {
      expect(item.index).toBe(seen.length);
      seen.push(item.input);
      if (images.bad.has(item.input)) {
        expect(item.score).toBeNull();
        expect(item.error?.kind).toBe(images.bad.get(item.input));
      } else {
        expect(item.error).toBeNull();
        expect(item.score?.distribution).toHaveLength(10);
      }
    }
    expect(seen).toEqual(inputs);
    const images_ = scorer.stats.images - before.images;
    const batches = scorer.stats.batches - before.batches;
    expect(images_).toBe(images.good.length + 1);
    expect(batches).toBeLessThan(images_);
  });

  it('results equal score() one by one, and async iterables work', async () => {
    const paths = images.good.slice(0, 5);
    async function* gen(): AsyncGenerator<string> {
      for (const p of paths) yield p;
    }
    const many: Score[] = [];
    for await (const item of scorer.scoreMany(gen(), { batchSize: 3 })) many.push(item.score!);
    for (const [i, p] of paths.entries()) expect(maxAbsDiff(many[i]!.distribution, (await scorer.score(p)).distribution)).toBeLessThanOrEqual(1e-6);
  });

  it('applies backpressure: pulls at most 2·batchSize + concurrency inputs ahead of the consumer', async () => {
    let pulled = 0;
    const p = images.good[0]!;
    function* endless(): Generator<string> {
      for (;;) {
        pulled++;
        yield p;
      }
    }
    let consumed = 0;
    for await (const item of scorer.scoreMany(endless(), { batchSize: 2, concurrency: 2 })) {
      expect(item.error).toBeNull();
      if (++consumed === 5) break;
    }
    expect(pulled).toBeLessThanOrEqual(5 + 2 * 2 + 2);
  });
});

describe('Scorer.load', () => {
  it('refuses checkpoints (with how to export), embedding models, and bad options', async () => {
    const params = new ParameterSet();
    new VisionTransformer(params, TINY);
    const ckpt = join(dir, 'model.safetensors');
    saveCheckpoint(ckpt, { params, step: 3, config: { encoder: TINY } });
    await expect(Scorer.load(ckpt)).rejects.toThrow(/is a cskd training checkpoint.*Export it first with exportOnnx/);

    const eparams = new ParameterSet();
    const vit = new VisionTransformer(eparams, TINY);
    const embed = join(dir, 'embed.onnx');
    await exportOnnx(embed, { encoder: vit, head: new Projector(eparams, 64, 16, 3), preprocessing: { mean: MEAN, std: STD } });
    await expect(Scorer.load(embed)).rejects.toThrow(/'embedding' model; scoring needs a model with a score head/);

    await expect(Scorer.load(join(dir, 'missing.onnx'))).rejects.toThrow(/cannot read .*missing.onnx \(ENOENT\)/);
    await expect(Scorer.load(modelPath, { threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
    await expect(Scorer.load(modelPath, { device: 'cuda' as 'cpu' })).rejects.toThrow(/device 'cuda' is not supported/);
  });

  it('custom bins and a non-default interpolation and scale come from the metadata', async () => {
    const bins = [0, 0.25, 0.5, 0.75, 1];
    const path = await tinyModel(dir, 'bilinear.onnx', { interpolation: 'bilinear', scale: 1 / 127.5, mean: [1, 1, 1], std: [1, 1, 1] }, bins);
    const s = await Scorer.load(path, { threads: 1 });
    try {
      expect(s.bins).toEqual(bins);
      const p = images.good[0]!;
      // Independent: sharp's linear kernel, the same geometry, then x/127.5 − 1.
      const { data } = await sharp(p).autoOrient().resize(48, 36, { fit: 'fill', kernel: 'linear' }).extract({ left: 8, top: 2, width: 32, height: 32 }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const ref = new Float32Array(3 * 32 * 32);
      for (let i = 0; i < 32 * 32; i++) for (let c = 0; c < 3; c++) ref[c * 1024 + i] = data[3 * i + c]! / 127.5 - 1;
      expect(maxAbsDiff(await s.preprocess(p), ref)).toBeLessThanOrEqual(1e-6);
      const score = await s.score(p);
      expect(score.mean).toBeCloseTo(score.distribution.reduce((a, pk, k) => a + pk * bins[k]!, 0), 12);
    } finally {
      await s.release();
    }
  });
});
