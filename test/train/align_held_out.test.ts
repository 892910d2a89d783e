// Phase 1's held-out figures: the slice is disjoint from the training images
// and the same in every run and resume; the mean-direction baseline matches a
// hand computation; an alignment that cannot learn (lr 0) explains nothing.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import type { FeatureLookup } from '../../src/clip/feature_store.js';
import { evalView } from '../../src/data/transforms.js';
import { VIT_DEFAULTS, type VitConfig } from '../../src/nn/vit.js';
import { RunDir } from '../../src/run/run_dir.js';
import { alignEncoder } from '../../src/train/align.js';
import type { AlignTargets } from '../../src/train/align_targets.js';
import { poolKey, splitPool } from '../../src/train/held_out.js';
import { Rng } from '../../src/util/rng.js';
import { encodePng, tempDir } from '../data/images.js';

const enc: VitConfig = { ...VIT_DEFAULTS, imgSize: 16, patchSize: 4, embedDim: 32, depth: 2, numHeads: 2 };

function makeImages(dir: string, n: number, rng: Rng): string[] {
  return Array.from({ length: n }, (_, k) => {
    const level = rng.uniform();
    const px: number[] = [];
    for (let i = 0; i < 20 * 20; i++) {
      const v = Math.max(0, Math.min(255, Math.round(255 * level + 30 * rng.normal())));
      px.push(v, Math.round(v * 0.7), 255 - v);
    }
    const path = join(dir, `img-${k}.png`);
    writeFileSync(path, encodePng(px, 20, 20, 2, 8));
    return path;
  });
}

/** The reference rule, spelled out independently: the first 8 hex digits of the digest as a number. */
function heldOutByHex(key: string, fraction: number): boolean {
  return parseInt(createHash('sha256').update(key).digest('hex').slice(0, 8), 16) < fraction * 4294967296;
}

describe('held-out slice', () => {
  it('is disjoint from the training slice, covers the pool, follows sha256 of the relative path and ignores where the pool lives', () => {
    const paths = Array.from({ length: 3000 }, (_, i) => `/data/pool/src-${i % 3}/${i}.jpg`);
    const a = splitPool(paths, { baseDir: '/data/pool', fraction: 0.1 });
    const train = new Set(a.train);
    expect(a.heldOut.some((p) => train.has(p))).toBe(false);
    expect(a.train.length + a.heldOut.length).toBe(paths.length);
    for (const p of paths) expect(a.heldOut.includes(p)).toBe(heldOutByHex(p.replace('/data/pool/', ''), 0.1));
    // Binomial(3000, 0.1): 300 ± 16.4; four standard deviations either side.
    expect(Math.abs(a.heldOut.length - 300)).toBeLessThan(66);
    // The same pool moved elsewhere holds out the same images.
    const moved = splitPool(
      paths.map((p) => p.replace('/data/pool', '/mnt/elsewhere')),
      { baseDir: '/mnt/elsewhere', fraction: 0.1 },
    );
    expect(moved.heldOut.map((p) => poolKey(p, '/mnt/elsewhere'))).toEqual(a.heldOut.map((p) => poolKey(p, '/data/pool')));
    // A named source instead of the hash.
    const named = splitPool(paths, { baseDir: '/data/pool', fraction: 0.1, valSource: new Set(paths.filter((p) => p.includes('src-1/'))) });
    expect(named.heldOut.length).toBe(1000);
    expect(named.train.every((p) => !p.includes('src-1/'))).toBe(true);
  });

  it('is the same across runs and resumes: an interrupted, resumed phase reports what an uninterrupted one does', async () => {
    const { dir, cleanup } = tempDir('cskd-heldout-');
    try {
      const rng = new Rng(3);
      const pool = makeImages(dir, 40, rng);
      const emb = new Map(pool.map((p) => [p, Float32Array.from({ length: 8 }, () => rng.normal() + 2)]));
      const features: FeatureLookup = { dim: 8, view: evalView(224), get: (p) => emb.get(p) ?? null };
      const split = splitPool(pool, { baseDir: dir, fraction: 0.25 });
      expect(split.heldOut.length).toBeGreaterThan(3);
      const run = (runDir: RunDir, onEvent?: (e: { type: string; step?: number }) => void) =>
        alignEncoder({ name: 'align-student', runDir, seed: 1, batchSize: 8, encoder: enc, images: split.train, heldOut: split.heldOut, features, settings: { epochs: 3, lr: 3e-3, checkpointEvery: 1 }, ...(onEvent ? { onEvent } : {}) });
      const whole = new RunDir(join(dir, 'whole'));
      const a = await run(whole);
      const resumed = new RunDir(join(dir, 'resumed'));
      // Killed in the middle of the second epoch (after its first step's checkpoint).
      await expect(
        run(resumed, (e) => {
          if (e.type === 'step' && e.step === 5) throw new Error('killed');
        }),
      ).rejects.toThrow('killed');
      const b = await run(resumed);
      expect(b.result.resumed).toBe(true);
      const lines = (r: RunDir) => r.events().filter((e) => e['event'] === 'align-eval').map(({ time: _t, ...rest }) => rest);
      expect(lines(whole)).toHaveLength(3);
      expect(lines(resumed)).toEqual(lines(whole));
      expect(lines(whole).filter((l) => l['selected'] === true)).toEqual([expect.objectContaining({ epoch: a.selectedEpoch })]);
      expect(b.heldOut).toBe(split.heldOut.length);
      expect(lines(whole)[0]!['heldOut']).toBe(split.heldOut.length);
      // A rerun of the finished phase changes nothing in the log.
      await run(whole);
      expect(lines(whole)).toHaveLength(3);
    } finally {
      cleanup();
    }
  }, 120_000);
});

describe('held-out figures', () => {
  it('the mean-direction baseline is the hand-computed mean of 1 − cos(mean of the training embeddings, held-out embedding)', async () => {
    const { dir, cleanup } = tempDir('cskd-baseline-');
    try {
      const imgs = makeImages(dir, 6, new Rng(4));
      // Four training embeddings whose mean is (1, 1, 1).
      const train = { [imgs[0]!]: [2, 0, 0], [imgs[1]!]: [0, 2, 0], [imgs[2]!]: [1, 1, 0], [imgs[3]!]: [1, 1, 4] };
      // mean = (1, 1, 1); held-out (1, 0, 0): cos = 1/√3; (0, 0, 5): cos = 1/√3; so both give 1 − 1/√3.
      const held = { [imgs[4]!]: [1, 0, 0], [imgs[5]!]: [0, 0, 5] };
      const emb = new Map(Object.entries({ ...train, ...held }).map(([k, v]) => [k, Float32Array.from(v)]));
      const features: FeatureLookup = { dim: 3, view: evalView(224), get: (p) => emb.get(p) ?? null };
      const runDir = new RunDir(join(dir, 'run'));
      const r = await alignEncoder({ name: 'align-student', runDir, seed: 1, batchSize: 2, encoder: enc, images: Object.keys(train), heldOut: Object.keys(held), features, settings: { epochs: 1, lr: 1e-3 } });
      expect(r.baseline).toBeCloseTo(1 - 1 / Math.sqrt(3), 12);
      const line = runDir.events().find((e) => e['event'] === 'align-eval')!;
      expect(line['baseline']).toBeCloseTo(1 - 1 / Math.sqrt(3), 12);
      expect(line['heldOut']).toBe(2);
    } finally {
      cleanup();
    }
  }, 60_000);

  it.each<AlignTargets>(['raw', 'centred', 'standardised'])('a planted no-op alignment (lr 0, targets %s) explains at most nothing', async (targets) => {
    const { dir, cleanup } = tempDir('cskd-noop-');
    try {
      const rng = new Rng(9);
      const pool = makeImages(dir, 32, rng);
      // Embeddings sharing one large direction, as CLIP's do.
      const emb = new Map(pool.map((p) => [p, Float32Array.from({ length: 16 }, (_, d) => (d === 0 ? 4 : 0) + rng.normal())]));
      const features: FeatureLookup = { dim: 16, view: evalView(224), get: (p) => emb.get(p) ?? null };
      const runDir = new RunDir(join(dir, 'run'));
      const r = await alignEncoder({ name: 'align-teacher', runDir, seed: 2, batchSize: 8, encoder: enc, images: pool.slice(0, 24), heldOut: pool.slice(24), features, targets, settings: { epochs: 2, lr: 0, minLr: 0 } });
      const lines = runDir.events().filter((e) => e['event'] === 'align-eval');
      expect(lines).toHaveLength(2);
      for (const l of lines) expect(1 - (l['loss'] as number) / (l['baseline'] as number)).toBeLessThanOrEqual(0);
      expect(r.result.best!.metrics['explained']).toBeLessThanOrEqual(0);
    } finally {
      cleanup();
    }
  }, 60_000);
});
