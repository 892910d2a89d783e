// `cskd analyze` end to end on tiny checkpoints, and the image selection it uses.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import sharp from 'sharp';
import { describe, expect, it, vi } from 'vitest';

import { main } from '../../src/cli/main.js';
import { analyzeAttention, encoderFromCheckpoint, selectImages } from '../../src/eval/attention_analysis.js';
import { VIT_DEFAULTS, type VitConfig } from '../../src/nn/vit.js';
import { Model } from '../../src/model/model.js';
import { saveModel } from '../../src/model/io.js';
import { Rng } from '../../src/util/rng.js';
import { encodePng, tempDir } from '../data/images.js';

const tiny: VitConfig = { ...VIT_DEFAULTS, imgSize: 16, patchSize: 4, embedDim: 16, depth: 2, numHeads: 2 };

function writeImage(path: string, seed: number): void {
  const rng = new Rng(seed);
  writeFileSync(path, encodePng(Array.from({ length: 16 * 16 * 3 }, () => Math.floor(rng.uniform() * 256)), 16, 16, 2, 8));
}

describe('selectImages', () => {
  it('takes folders (recursively), globs, list files and single images, and draws a stable subset', async () => {
    const { dir, cleanup } = tempDir('cskd-select-');
    try {
      mkdirSync(join(dir, 'a', 'deep'), { recursive: true });
      mkdirSync(join(dir, 'b'));
      const a = ['a/1.png', 'a/deep/2.png'].map((p) => join(dir, p));
      const b = ['b/3.png', 'b/4.png'].map((p) => join(dir, p));
      [...a, ...b].forEach((p, i) => writeImage(p, i));
      writeFileSync(join(dir, 'b', 'notes.txt'), 'not an image');
      writeFileSync(join(dir, 'list.txt'), 'b/4.png\n# a comment\n');
      expect(await selectImages([join(dir, 'a')])).toEqual(a);
      expect(await selectImages([join(dir, 'b', '*.png')])).toEqual(b);
      expect(await selectImages(['list.txt', 'b/3.png', join(dir, 'b', '4.png')], { baseDir: dir })).toEqual(b); // duplicates once
      const some = await selectImages([join(dir, 'a'), join(dir, 'b')], { count: 3 });
      expect(some.length).toBe(3);
      expect(some.every((p) => [...a, ...b].includes(p))).toBe(true);
      expect(await selectImages([join(dir, 'a'), join(dir, 'b')], { count: 3 })).toEqual(some);
      await expect(selectImages([join(dir, 'missing')])).rejects.toThrow(/missing/);
    } finally {
      cleanup();
    }
  });
});

describe('cskd analyze', () => {
  it('writes attention.json (encoders in command-line order, the numbers of analyzeAttention), attention.svg and attention.png', async () => {
    const { dir, cleanup } = tempDir('cskd-analyze-');
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      mkdirSync(join(dir, 'imgs'));
      for (let i = 0; i < 3; i++) writeImage(join(dir, 'imgs', `${i}.png`), 10 + i);
      const ck = join(dir, 'student.safetensors');
      saveModel(ck, new Model({ encoder: tiny, head: { kind: 'score', bins: 5 } }).init(new Rng(4)));
      const code = await main(['analyze', '--init', 'random=vit-demo-s', '--model', `trained=${ck}`, '--images', join(dir, 'imgs'), '-n', '2', '--out', join(dir, 'out')]);
      expect(code).toBe(0);
      const json = JSON.parse(readFileSync(join(dir, 'out', 'attention.json'), 'utf8')) as { imagePaths: string[]; models: { name: string; depth: number; heads: number; distance: number[][] }[] };
      expect(json.models.map((m) => [m.name, m.depth, m.heads])).toEqual([
        ['random', 3, 2],
        ['trained', 2, 2],
      ]);
      expect(json.imagePaths.length).toBe(2);
      // The same numbers as the API on the same images.
      const direct = await analyzeAttention([encoderFromCheckpoint(ck)], json.imagePaths);
      expect(json.models[1]?.distance).toEqual(direct.models[0]?.distance);
      const svg = readFileSync(join(dir, 'out', 'attention.svg'), 'utf8');
      expect(svg.match(/class="head-marker"/g)?.length).toBe(2 * (3 * 2 + 2 * 2));
      const meta = await sharp(join(dir, 'out', 'attention.png')).metadata();
      expect(meta.format).toBe('png');
    } finally {
      out.mockRestore();
      cleanup();
    }
  });
});
