// The feature store: values land on the right paths; a rerun after a kill
// finishes without redoing finished shards; new and changed images are added
// incrementally; bad images are listed, not fatal; another model or view is
// refused. The encoder is a tiny ONNX model whose output for a one-colour
// image is computed by hand (tinyExpected), independently of the pipeline.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClipEncoder } from '../../src/clip/encoder.js';
import { buildFeatureStore, FeatureStore } from '../../src/clip/feature_store.js';
import { OnnxClipEncoder } from '../../src/clip/onnx_encoder.js';
import type { FeatureLookup } from '../../src/clip/feature_store.js';
import { encodePng, solid } from '../data/images.js';
import { tinyExpected, tinyModel } from './tiny_model.js';

const root = mkdtempSync(join(tmpdir(), 'cskd-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const D = 5;
const S = 8;
const W = Float32Array.from({ length: 3 * D }, (_, i) => Math.sin(i + 1) * 2);
const MEAN = [0.48145466, 0.4578275, 0.40821073];
const STD = [0.26862954, 0.26130258, 0.27577711];

/** Counts the images it embeds, so a test can tell what a rerun recomputed. */
class CountingEncoder implements ClipEncoder {
  images = 0;
  constructor(readonly inner: ClipEncoder) {}
  get name() { return this.inner.name; }
  get engine() { return this.inner.engine; }
  get modelHash() { return this.inner.modelHash; }
  get dim() { return this.inner.dim; }
  get preprocessing() { return this.inner.preprocessing; }
  get standIn() { return this.inner.standIn; }
  get description() { return this.inner.description; }
  encode(pixels: Float32Array, batch: number): Promise<Float32Array> {
    this.images += batch;
    return this.inner.encode(pixels, batch);
  }
  close(): Promise<void> { return this.inner.close(); }
}

let modelPath: string;
let inner: ClipEncoder;
const imgDir = join(root, 'images');
const colours = new Map<string, number[]>();

function writeImage(name: string, rgb: number[], w = 16, h = 12): string {
  const p = join(imgDir, name);
  writeFileSync(p, encodePng(solid(w, h, rgb), w, h, 2, 8));
  colours.set(p, rgb);
  return p;
}

function expectEmbedding(store: FeatureStore, path: string): void {
  const i = store.indexOf(path);
  expect(i, path).toBeGreaterThanOrEqual(0);
  const got = store.read(i);
  const want = tinyExpected(colours.get(path)!, MEAN, STD, W, D);
  for (let k = 0; k < D; k++) expect(got[k], `${path}[${k}]`).toBeCloseTo(want[k]!, 4);
}

beforeAll(async () => {
  mkdirSync(imgDir);
  modelPath = join(root, 'tiny.onnx');
  writeFileSync(modelPath, tinyModel({ size: S, weight: W, dim: D }));
  writeFileSync(join(root, 'preprocessor_config.json'), JSON.stringify({ crop_size: S, size: S, image_mean: MEAN, image_std: STD }));
  inner = await OnnxClipEncoder.open(modelPath, { threads: 1 });
});
afterAll(() => inner.close());

const files: string[] = [];

describe('feature store', () => {
  it('stores each image\'s embedding under its path, stamped with the model and the view', async () => {
    for (let i = 0; i < 7; i++) files.push(writeImage(`img${i}.png`, [(37 * i) % 256, (91 * i + 20) % 256, (13 * i + 200) % 256], 16 + i, 12));
    const enc = new CountingEncoder(inner);
    const dir = join(root, 'store-a');
    const r = await buildFeatureStore({ dir, encoder: enc, files, shardSize: 3, batchSize: 2 });
    expect(r).toMatchObject({ embedded: 7, failed: 0, skipped: 0, shardsWritten: 3, complete: true });
    expect(enc.images).toBe(7);
    const store = r.store;
    expect(store.count).toBe(7);
    expect(store.dim).toBe(D);
    for (const f of files) expectEmbedding(store, f);
    const header = JSON.parse(readFileSync(join(dir, 'store.json'), 'utf8'));
    // readBatch packs rows in the order asked.
    const batch = store.readBatch([store.indexOf(files[4]!), store.indexOf(files[0]!)]);
    expect(Array.from(batch.subarray(0, D))).toEqual(Array.from(store.read(store.indexOf(files[4]!))));
    // Phase 1's lookup by path (src/train's FeatureLookup).
    expect(Array.from(store.get(files[2]!)!)).toEqual(Array.from(store.read(store.indexOf(files[2]!))));
    const lookup: FeatureLookup = store; // the store is what phase 1 takes
    expect(lookup.get(join(imgDir, 'absent.png'))).toBeNull();
    expect(store.view).toEqual(header.view);
    expect(header.model.hash).toBe(inner.modelHash);
    expect(header.view.geometry).toEqual({ kind: 'center', resize: S });
    expect(readdirSync(join(dir, 'shards')).sort()).toEqual(['shard-000000.safetensors', 'shard-000001.safetensors', 'shard-000002.safetensors']);
    store.close();
  });

  it('resumes after a kill without redoing finished shards, cutting a torn manifest line and adopting an orphan shard', async () => {
    const dir = join(root, 'store-b');
    const first = new CountingEncoder(inner);
    const r1 = await buildFeatureStore({ dir, encoder: first, files, shardSize: 2, batchSize: 2, maxShards: 2 });
    expect(r1.complete).toBe(false);
    expect(first.images).toBe(4);
    // A kill between a shard's rename and its manifest append: the shard is on disk, its line is not,
    // and the append that was under way left half a line. A dead writer's temp file lies beside the shards.
    const manifest = join(dir, 'manifest.jsonl');
    const lines = readFileSync(manifest, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    writeFileSync(manifest, `${lines[0]}\n${lines[1]!.slice(0, 40)}`);
    writeFileSync(join(dir, 'shards', '.shard-000002.safetensors.99999.1.tmp'), 'partial');
    const shard1 = join(dir, 'shards', 'shard-000001.safetensors');
    const mtime1 = statSync(shard1).mtimeMs;

    const second = new CountingEncoder(inner);
    const r2 = await buildFeatureStore({ dir, encoder: second, files, shardSize: 2, batchSize: 2 });
    expect(second.images).toBe(3);
    expect(r2).toMatchObject({ embedded: 3, skipped: 4, complete: true });
    expect(statSync(shard1).mtimeMs).toBe(mtime1);
    expect(readdirSync(join(dir, 'shards')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // Every manifest line parses again (torn tail cut, orphan re-listed).
    const after = readFileSync(manifest, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { shard: string });
    expect(after.map((l) => l.shard).sort()).toEqual(['shard-000000.safetensors', 'shard-000001.safetensors', 'shard-000002.safetensors', 'shard-000003.safetensors']);
    for (const f of files) expectEmbedding(r2.store, f);
    r2.store.close();

    const third = new CountingEncoder(inner);
    const r3 = await buildFeatureStore({ dir, encoder: third, files, shardSize: 2 });
    expect(third.images).toBe(0);
    expect(r3).toMatchObject({ embedded: 0, skipped: 7, shardsWritten: 0 });
    r3.store.close();
  });

  it('adds new and changed images incrementally and lists bad ones without failing', async () => {
    const dir = join(root, 'store-a');
    const added = [writeImage('new1.png', [1, 2, 3]), writeImage('new2.png', [250, 128, 7])];
    // A changed file: same path, new content and a later mtime.
    writeImage('img3.png', [9, 99, 199]);
    utimesSync(files[3]!, new Date(), new Date(Date.now() + 5000));
    const zero = join(imgDir, 'empty.png');
    writeFileSync(zero, '');
    const text = join(imgDir, 'notes.png');
    writeFileSync(text, 'not an image at all, just text pretending');
    const enc = new CountingEncoder(inner);
    const all = [...files, ...added, zero, text, join(imgDir, 'gone.png')];
    const r = await buildFeatureStore({ dir, encoder: enc, files: all, shardSize: 3, batchSize: 2 });
    expect(enc.images).toBe(3);
    expect(r).toMatchObject({ embedded: 3, failed: 3, skipped: 6 });
    const store = r.store;
    expect(store.count).toBe(9);
    for (const f of [...files, ...added]) expectEmbedding(store, f);
    const bad = Object.fromEntries(store.bad.map((b) => [b.path, b.kind]));
    expect(bad).toEqual({ [zero]: 'zero-byte', [text]: 'not-an-image', [join(imgDir, 'gone.png')]: 'missing' });
    store.close();
    // Bad images are not retried while they stay the same.
    const again = new CountingEncoder(inner);
    const r2 = await buildFeatureStore({ dir, encoder: again, files: all, shardSize: 3 });
    expect(again.images).toBe(0);
    expect(r2).toMatchObject({ embedded: 0, failed: 0, skipped: 12 });
    r2.store.close();
  });

  it('refuses a store made with another model or another view', async () => {
    const dir = join(root, 'store-a');
    const otherPath = join(root, 'other', 'tiny.onnx');
    mkdirSync(join(root, 'other'));
    writeFileSync(otherPath, tinyModel({ size: S, weight: W.map((v) => v + 1), dim: D }));
    writeFileSync(join(root, 'other', 'preprocessor_config.json'), JSON.stringify({ crop_size: S, size: S, image_mean: MEAN, image_std: STD }));
    const other = await OnnxClipEncoder.open(otherPath, { threads: 1 });
    try {
      await expect(buildFeatureStore({ dir, encoder: other, files })).rejects.toThrow(/was made with model .*tiny.onnx \(hash [0-9a-f]{12}\), this run uses/);
      (await buildFeatureStore({ dir: join(root, 'store-other'), encoder: other, files: files.slice(0, 2) })).store.close();
    } finally {
      await other.close();
    }
    const flipped = { size: S, geometry: { kind: 'center' as const, resize: S }, flipProbability: 0.5, normalization: { name: 'x', mean: MEAN as [number, number, number], std: STD as [number, number, number] } };
    await expect(buildFeatureStore({ dir, encoder: inner, files, view: flipped })).rejects.toThrow(/was made with view resize 8, centre crop 8 .*this run uses resize 8, centre crop 8, flip p=0.5/);
    expect(() => FeatureStore.open(dir, { modelHash: 'f'.repeat(64) })).toThrow(/was made with model/);
  });

  it('refuses a shard of another model\'s store slipped into this one', () => {
    const a = join(root, 'store-a');
    const foreign = readFileSync(join(root, 'store-other', 'shards', 'shard-000000.safetensors'));
    writeFileSync(join(a, 'shards', 'shard-000900.safetensors'), foreign);
    expect(() => FeatureStore.open(a)).toThrow(/shard-000900.safetensors was made with another model or view/);
    rmSync(join(a, 'shards', 'shard-000900.safetensors'));
    expect(FeatureStore.open(a).count).toBe(9);
  });
});
