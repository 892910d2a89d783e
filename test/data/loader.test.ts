import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { ImageCache, ImageLoader, type Batch, type LoaderItem } from '../../src/data/loader.js';
import { IMAGENET_NORMALIZATION, evalView, strongView, weakView } from '../../src/data/transforms.js';
import { encodePng, normalized, solid, tempDir } from './images.js';

const { dir, cleanup } = tempDir();
afterAll(cleanup);

// Item i is a solid image whose red level is 20·i; sizes vary so decodes finish out of order.
const N = 9;
const items: LoaderItem[] = [];
for (let i = 0; i < N; i++) {
  const p = join(dir, `img${i}.png`);
  const side = i % 3 === 0 ? 300 : 20 + i;
  writeFileSync(p, encodePng(solid(side, side, [20 * i, 50, 60]), side, side, 2, 8));
  const d = new Float64Array(3);
  d[i % 3] = 1;
  items.push({ path: p, distribution: d, mean: i % 3 });
}
const png = readFileSync(items[4]!.path);
writeFileSync(join(dir, 'trunc.png'), png.subarray(0, png.length - 20));
items.push({ path: join(dir, 'trunc.png'), distribution: new Float64Array([1, 0, 0]), mean: 0 }); // item 9: truncated
items.push({ path: join(dir, 'gone.png'), distribution: new Float64Array([1, 0, 0]), mean: 0 }); // item 10: missing

const S = 8;
const n = IMAGENET_NORMALIZATION;
/** The item a decoded image came from, read back from its red level. */
function redLevel(b: Batch, view: number, k: number): number {
  const v = b.images[view]![k * 3 * S * S]!;
  return Math.round(((v * n.std[0] + n.mean[0]) * 255) / 20) + 0; // + 0 turns −0 into 0
}

async function collect(loader: ImageLoader, epoch: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.epoch(epoch)) out.push(b);
  return out;
}

describe('ImageLoader', () => {
  it('assembles batches in shuffle order, skipping and listing bad files', async () => {
    const loader = new ImageLoader(items, { batchSize: 4, views: [evalView(S, IMAGENET_NORMALIZATION)], seed: 3, concurrency: 3, prefetch: 1 });
    const batches = await collect(loader, 0);
    // 11 items, 2 bad → 9 good: batches of 4, 4, 1 (last kept).
    expect(batches.map((b) => b.size)).toEqual([4, 4, 1]);
    const expectedOrder = loader.order(0).filter((i) => i < N);
    expect(batches.flatMap((b) => Array.from(b.items))).toEqual(expectedOrder);
    expect([...expectedOrder].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (const b of batches)
      b.items.forEach((item, k) => {
        expect(redLevel(b, 0, k)).toBe(item);
        expect(b.means![k]).toBe(item % 3);
        expect(Array.from(b.distributions!.subarray(3 * k, 3 * k + 3))).toEqual(Array.from(items[item]!.distribution!));
      });
    // Every pixel of item's image is the same colour: green plane = 50.
    expect(batches[0]!.images[0]![S * S]).toBeCloseTo(normalized(50, n.mean[1], n.std[1]), 5);
    expect(loader.lastEpoch).toMatchObject({ batches: 3, images: 9, skipped: 2, dropped: 0 });
    expect([...loader.badFiles.values()].map((e) => [e.file, e.kind]).sort()).toEqual([
      [join(dir, 'gone.png'), 'missing'],
      [join(dir, 'trunc.png'), 'truncated'],
    ]);
    const tsv = join(dir, 'bad-files.tsv');
    await loader.writeBadFiles(tsv);
    const lines = readFileSync(tsv, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('path\tkind\tdetail');
    expect(lines.slice(1).map((l) => l.split('\t').slice(0, 2).join(' ')).sort()).toEqual([`${join(dir, 'gone.png')} missing`, `${join(dir, 'trunc.png')} truncated`]);
    expect(batches.every((b) => b.waitMs >= 0)).toBe(true);
    expect(loader.lastEpoch!.waitMs).toBeCloseTo(batches.reduce((a, b) => a + b.waitMs, 0), 6);
  });

  it('is reproducible from (seed, epoch), reshuffles across epochs, and drops the last batch when asked', async () => {
    const opts = { batchSize: 4, views: [weakView(S), strongView(S)], seed: 11, dropLast: true };
    const a = await collect(new ImageLoader(items, opts), 2);
    const b = await collect(new ImageLoader(items, { ...opts, concurrency: 1 }), 2);
    expect(a.map((x) => x.size)).toEqual([4, 4]);
    expect(a.map((x) => Array.from(x.items))).toEqual(b.map((x) => Array.from(x.items)));
    a.forEach((x, i) => x.images.forEach((v, k) => expect(v).toEqual(b[i]!.images[k])));
    const other = new ImageLoader(items, opts);
    expect(other.order(3)).not.toEqual(other.order(2));
    const loader = new ImageLoader(items, opts);
    await collect(loader, 2);
    expect(loader.lastEpoch).toMatchObject({ images: 8, dropped: 1, skipped: 2 });
    // A second epoch meets the bad files again without re-reading them: still counted.
    await collect(loader, 3);
    expect(loader.lastEpoch).toMatchObject({ skipped: 2 });
    expect(loader.badFiles.size).toBe(2);
  });

  it('an epoch started ahead by the one before it equals the same epoch from a fresh loader', async () => {
    const opts = { batchSize: 3, views: [weakView(S), strongView(S)], seed: 5 };
    const loader = new ImageLoader(items, opts);
    await collect(loader, 0); // its tail starts decoding epoch 1
    const warm = await collect(loader, 1);
    const fresh = await collect(new ImageLoader(items, opts), 1);
    expect(warm.map((x) => Array.from(x.items))).toEqual(fresh.map((x) => Array.from(x.items)));
    warm.forEach((x, i) => x.images.forEach((v, k) => expect(v).toEqual(fresh[i]!.images[k])));
    // Epochs asked for out of sequence ignore what was started for another.
    const skipped = await collect(loader, 4);
    const fresh4 = await collect(new ImageLoader(items, opts), 4);
    skipped.forEach((x, i) => x.images.forEach((v, k) => expect(v).toEqual(fresh4[i]!.images[k])));
    // So does one started explicitly, as distillation's unlabeled stream does.
    loader.prefetchEpoch(7);
    const asked = await collect(loader, 7);
    const fresh7 = await collect(new ImageLoader(items, opts), 7);
    expect(asked.map((x) => Array.from(x.items))).toEqual(fresh7.map((x) => Array.from(x.items)));
    asked.forEach((x, i) => x.images.forEach((v, k) => expect(v).toEqual(fresh7[i]!.images[k])));
  });

  it('without shuffling keeps item order; validates its options', async () => {
    const loader = new ImageLoader(items.slice(0, 5), { batchSize: 2, views: [evalView(S)], seed: 0, shuffle: false });
    expect((await collect(loader, 0)).map((x) => Array.from(x.items))).toEqual([[0, 1], [2, 3], [4]]);
    expect(() => new ImageLoader(items, { batchSize: 0, views: [evalView(S)], seed: 0 })).toThrow(RangeError);
    expect(() => new ImageLoader(items, { batchSize: 2, views: [], seed: 0 })).toThrow(/at least one view/);
  });
});

describe('pre-resized cache', () => {
  it('decodes each file once: later epochs render from memory, close to views of the file', async () => {
    const { dir: d2, cleanup: c2 } = tempDir();
    try {
      // A smooth gradient, so resampling twice changes values only slightly.
      const W = 120;
      const H = 90;
      const px: number[] = [];
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) px.push(Math.round((255 * x) / W), Math.round((255 * y) / H), 128);
      const paths = [0, 1, 2].map((i) => {
        const p = join(d2, `g${i}.png`);
        writeFileSync(p, encodePng(px, W, H, 2, 8));
        return { path: p };
      });
      const view = evalView(16);
      const plain = new ImageLoader(paths, { batchSize: 3, views: [view], seed: 1, shuffle: false });
      const cache = new ImageCache(24);
      const cached = new ImageLoader(paths, { batchSize: 3, views: [view], seed: 1, shuffle: false, cache });
      const first = async (l: ImageLoader, e: number) => {
        for await (const b of l.epoch(e)) return b.images[0] as Float32Array;
        throw new Error('no batch');
      };
      const ref = await first(plain, 0);
      const c0 = await first(cached, 0);
      let worst = 0;
      ref.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - (c0[i] as number)))));
      // Normalised units (std ~0.25 of the 0–1 range): within ~2 levels of 255.
      expect(worst).toBeLessThan(0.04);
      // The files are gone; the cache still serves them, identically.
      for (const p of paths) rmSync(p.path);
      const c1 = await first(cached, 1);
      expect(Array.from(c1)).toEqual(Array.from(c0));
      expect(cached.badFiles.size).toBe(0);
      // Another loader sharing the cache reads from memory too.
      const other = new ImageLoader(paths, { batchSize: 3, views: [view], seed: 1, shuffle: false, cache });
      expect(Array.from(await first(other, 0))).toEqual(Array.from(c0));
      expect(cache.size).toBe(3);
    } finally {
      c2();
    }
  });
});
