// cskd probe through the command line: on a cskd model file and on a feature
// store folder, the JSON names the splits and each SRCC lies in its interval;
// the store's answer is the ridge probe of its embeddings, fitted here; a split
// the dataset lacks is an error that names it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { main } from '../../src/cli/main.js';
import { buildFeatureStore } from '../../src/clip/feature_store.js';
import type { ClipEncoder } from '../../src/clip/encoder.js';
import { findSplit, loadDataset } from '../../src/data/datasets.js';
import { generateDemo } from '../../src/data/demo.js';
import { ridgeFit, ridgePredict, chooseLambda } from '../../src/eval/probe.js';
import { srcc } from '../../src/eval/metrics.js';
import { saveModel } from '../../src/model/io.js';
import { Model } from '../../src/model/model.js';
import { vitConfig } from '../../src/nn/registry.js';
import { Rng } from '../../src/util/rng.js';
import { captureOutput } from '../helpers/capture.js';

afterEach(() => vi.restoreAllMocks());

async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = captureOutput();
  const code = await main(argv);
  vi.restoreAllMocks();
  return { code, out: c.out(), err: c.err() };
}

/** An "encoder" whose embedding is each channel's mean brightness and its square: known features, no network. */
const meanEncoder: ClipEncoder = {
  name: 'channel-means',
  engine: 'native',
  modelHash: 'channel-means-v1',
  dim: 6,
  preprocessing: { size: 32, resize: 32, interpolation: 'bicubic', mean: [0, 0, 0], std: [1, 1, 1], source: 'test' },
  standIn: false,
  description: 'channel means (test)',
  encode: async (pixels, batch) => {
    const out = new Float32Array(batch * 6);
    const per = 32 * 32;
    for (let b = 0; b < batch; b++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let i = 0; i < per; i++) s += pixels[(b * 3 + c) * per + i]!;
        out[b * 6 + c] = s / per;
        out[b * 6 + 3 + c] = (s / per) ** 2;
      }
    return out;
  },
  close: async () => {},
};

describe('cskd probe', () => {
  it('probes a model file and a feature store; a missing split is named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cskd-probe-'));
    try {
      const data = await generateDemo({ outDir: join(dir, 'data'), sources: 8, variants: 4, unlabeledPerSource: 2, size: 48, photos: false });
      const model = new Model({ encoder: vitConfig('vit-demo-s'), head: { kind: 'projector', outDim: 8 } }).init(new Rng(1));
      saveModel(join(dir, 'm.safetensors'), model);
      const a = await capture(['probe', '--model', join(dir, 'm.safetensors'), '--data', data.config, '--json']);
      expect(a.code).toBe(0);
      const ra = JSON.parse(a.out) as { results: { split: string; srcc: number; low: number; high: number }[] };
      expect(ra.results.map((r) => r.split)).toEqual(['test']);
      for (const r of ra.results) expect(r.low <= r.srcc && r.srcc <= r.high).toBe(true);

      // A store of known features: the command's SRCC is the probe fitted here on the same rows.
      const ds = await loadDataset(data.config);
      const train = findSplit(ds, 'train', 't');
      const test = findSplit(ds, 'test', 't');
      const storeDir = join(dir, 'store');
      const built = await buildFeatureStore({ dir: storeDir, encoder: meanEncoder, files: [...train.samples, ...test.samples].map((s) => s.path) });
      const rows = (split: typeof train) => {
        const X = split.samples.flatMap((s) => Array.from(built.store.get(s.path)!));
        return { X: { data: Float64Array.from(X), n: split.samples.length, d: 6 }, y: split.samples.map((s) => s.mean) };
      };
      const tr = rows(train);
      const te = rows(test);
      const fit = ridgeFit(tr.X, tr.y, chooseLambda(tr.X, tr.y));
      const want = srcc(ridgePredict(fit, te.X), te.y);
      const b = await capture(['probe', '--model', storeDir, '--data', data.config, '--json']);
      expect(b.code).toBe(0);
      expect((JSON.parse(b.out) as { results: { srcc: number }[] }).results[0]!.srcc).toBeCloseTo(want, 12);

      const c = await capture(['probe', '--model', storeDir, '--data', data.config, '--eval', 'nope']);
      expect(c.code).toBe(1);
      expect(c.err).toMatch(/no split 'nope'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
