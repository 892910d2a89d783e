import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import sharp from 'sharp';

import { readPhotoList } from '../../src/cli/data.js';
import { checkDataset, checkPassed } from '../../src/data/check.js';
import { loadDataset } from '../../src/data/datasets.js';
import { demoMeanScore, generateDemo } from '../../src/data/demo.js';
import { tempDir } from './images.js';

const { dir, cleanup } = tempDir();
afterAll(cleanup);

const clean = { blur: 0, noise: 0, jpeg: 0, exposure: 0, saturation: 0, crop: 0 };

describe('demo data', () => {
  it('the scoring rule: 9 + offset when clean, 2 + 7·Π(1 − impact·severity) otherwise', () => {
    expect(demoMeanScore(clean, 0)).toBe(9);
    expect(demoMeanScore(clean, 0.3)).toBeCloseTo(9.3, 12);
    expect(demoMeanScore({ ...clean, blur: 1 }, 0)).toBeCloseTo(2 + 7 * 0.4, 12);
    expect(demoMeanScore({ ...clean, blur: 0.5, noise: 1 }, 0)).toBeCloseTo(2 + 7 * 0.7 * 0.5, 12);
    expect(demoMeanScore({ blur: 1, noise: 1, jpeg: 1, exposure: 1, saturation: 1, crop: 1 }, -0.5)).toBeCloseTo(2 + 7 * 0.4 * 0.5 * 0.55 * 0.45 * 0.7 * 0.7 - 0.5, 12);
  });

  it('generates an AVA-format dataset split by source, with unlabeled sources disjoint from test', async () => {
    const a = join(dir, 'a');
    const s = await generateDemo({ outDir: a, sources: 10, variants: 3, unlabeledPerSource: 4, size: 64, votes: 50, seed: 5, photos: false });
    expect(s.train + s.test).toBe(30);
    expect(s.testSources).toHaveLength(3);
    expect(s.trainSources.filter((x) => s.testSources.includes(x))).toEqual([]);

    const ds = await loadDataset(s.config);
    const [train, test] = ds.splits;
    expect(train!.samples).toHaveLength(21);
    expect(test!.samples).toHaveLength(9);
    expect(train!.issues.concat(test!.issues)).toEqual([]);
    // The challenge column records the source: train and test share none.
    const ava = readFileSync(join(a, 'AVA.txt'), 'utf8').trim().split('\n').map((l) => l.split(' '));
    const sourceOf = new Map(ava.map((f) => [f[1]!, f[14]!]));
    const trainSrc = new Set(train!.samples.map((x) => sourceOf.get(x.id)));
    expect(test!.samples.filter((x) => trainSrc.has(sourceOf.get(x.id)))).toEqual([]);
    expect(ava.every((f) => f.slice(2, 12).reduce((t, v) => t + Number(v), 0) === 50)).toBe(true);
    // Within each source the undegraded variant (the first) scores highest on average over sources.
    const bySource = new Map<string, number[]>();
    for (const x of [...train!.samples, ...test!.samples]) bySource.set(sourceOf.get(x.id)!, [...(bySource.get(sourceOf.get(x.id)!) ?? []), x.mean]);
    const firstWins = [...bySource.values()].filter((m) => m[0]! >= Math.max(...m.slice(1))).length;
    expect(firstWins).toBeGreaterThanOrEqual(8);
    expect(ds.unlabeled.map((u) => [u.name, u.files.length])).toEqual([
      ['u-variants', 4],
      ['u-fresh', 4],
      ['u-stripes', 4],
    ]);
    const report = await checkDataset(s.config);
    expect(checkPassed(report)).toBe(true);
    expect(report.filesChecked).toBe(30 + 12);

    // Deterministic by seed.
    const b = join(dir, 'b');
    await generateDemo({ outDir: b, sources: 10, variants: 3, unlabeledPerSource: 4, size: 64, votes: 50, seed: 5, photos: false });
    expect(readFileSync(join(b, 'AVA.txt'), 'utf8')).toBe(readFileSync(join(a, 'AVA.txt'), 'utf8'));
    expect(readFileSync(join(b, 'images', `${ava[4]![1]}.jpg`))).toEqual(readFileSync(join(a, 'images', `${ava[4]![1]}.jpg`)));
  });

  it('photo files from a list become sources, degraded at their own resolution with --full-resolution', async () => {
    const p = join(dir, 'p');
    const photo = async (name: string, w: number, h: number) => {
      const raw = Buffer.alloc(w * h * 3);
      for (let i = 0; i < raw.length; i++) raw[i] = (i * 7) % 251;
      await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toFile(join(dir, name));
    };
    await photo('wide.png', 300, 200);
    await photo('tall.png', 120, 180);
    writeFileSync(join(dir, 'photos.txt'), '# two photos\nwide.png\n\ntall.png\n');
    const files = await readPhotoList(join(dir, 'photos.txt'));
    expect(files).toEqual([join(dir, 'wide.png'), join(dir, 'tall.png')]);
    const sizes = async (fullResolution: boolean) => {
      const s = await generateDemo({ outDir: join(p, String(fullResolution)), sources: 0, variants: 2, unlabeledPerSource: 1, size: 64, seed: 1, photos: false, photoFiles: files, fullResolution });
      expect(s.photoFiles).toBe(2);
      expect([...s.trainSources, ...s.testSources].sort()).toEqual(files.map((f) => `file:${f}`).sort());
      const ds = await loadDataset(s.config);
      return Promise.all(ds.splits.flatMap((x) => x.samples).map(async (x) => { const m = await sharp(x.path).metadata(); return `${m.width}x${m.height}`; }));
    };
    // Each source's two variants keep its size: the photos' own at full resolution, a 64-px long side otherwise.
    expect((await sizes(true)).sort()).toEqual(['120x180', '120x180', '300x200', '300x200']);
    expect((await sizes(false)).sort()).toEqual(['300x200', '300x200'].map(() => '64x43').concat(['43x64', '43x64']).sort());
  });
});
