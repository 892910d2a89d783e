// Every phase end to end on a tiny config, on generated images: each loss falls.
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { evalView } from '../../src/data/transforms.js';
import { VIT_DEFAULTS, type VitConfig } from '../../src/nn/vit.js';
import type { FeatureLookup } from '../../src/clip/feature_store.js';
import { alignEncoder } from '../../src/train/align.js';
import { distill } from '../../src/train/distill.js';
import { finetune } from '../../src/train/finetune.js';
import type { TrainEvent } from '../../src/train/loop.js';
import { RunDir } from '../../src/run/run_dir.js';
import { Rng } from '../../src/util/rng.js';
import { tempDir } from '../data/images.js';
import { brightnessImage, labeledSplit } from '../helpers/labeled_images.js';

const enc: VitConfig = { ...VIT_DEFAULTS, imgSize: 16, patchSize: 4, embedDim: 32, depth: 2, numHeads: 2 };
const bins = [1, 2, 3, 4, 5];


function lossesOf(events: TrainEvent[], key: string): number[] {
  return events.filter((e): e is Extract<TrainEvent, { type: 'epoch' }> => e.type === 'epoch').map((e) => e.losses[key] as number);
}

describe('CSKD phases', () => {
  it('align, fine-tune the teacher, distil the student: every loss falls', async () => {
    const { dir, cleanup } = tempDir('cskd-e2e-');
    try {
      const rng = new Rng(5);
      const train = labeledSplit('train', Array.from({ length: 24 }, (_, i) => brightnessImage(dir, `t${i}`, rng, 20)), bins);
      const val = labeledSplit('val', Array.from({ length: 8 }, (_, i) => brightnessImage(dir, `v${i}`, rng, 20)), bins);
      const pool = Array.from({ length: 24 }, (_, i) => brightnessImage(dir, `u${i}`, rng, 20).path);
      // Stand-in "CLIP" embeddings: a fixed random vector per image.
      const emb = new Map(pool.map((p) => [p, Float32Array.from({ length: 16 }, () => rng.normal())]));
      const features: FeatureLookup = { dim: 16, view: evalView(224), get: (p) => emb.get(p) ?? null };
      const runDir = new RunDir(join(dir, 'run'));
      const events: TrainEvent[] = [];
      const common = { runDir, seed: 1, batchSize: 8, onEvent: (e: TrainEvent) => events.push(e) };

      const aligned = await alignEncoder({ ...common, name: 'align-student', encoder: enc, images: [...pool, join(dir, 'no-embedding.png')], features, settings: { epochs: 12, lr: 3e-3, warmupEpochs: 1 } });
      expect(aligned.missing).toBe(1);
      const a = lossesOf(events, 'align');
      expect(a[a.length - 1]).toBeLessThan((a[0] as number) * 0.8);

      events.length = 0;
      const teacher = await finetune({ ...common, name: 'teacher', encoder: enc, init: aligned.model, train, val, settings: { epochs: 10, lr: 3e-3 } });
      const t = lossesOf(events, 'emd');
      expect(t[t.length - 1]).toBeLessThan((t[0] as number) * 0.8);
      expect(teacher.result.best).not.toBeNull();

      events.length = 0;
      const student = await distill({ ...common, name: 'student', encoder: enc, init: aligned.model, teacher: teacher.model, train, val, unlabeled: pool, lambda: 1, settings: { epochs: 8, lr: 3e-3 } });
      const sl = lossesOf(events, 'labeled');
      const su = lossesOf(events, 'unlabeled');
      expect(sl[sl.length - 1]).toBeLessThan((sl[0] as number) * 0.8);
      expect(su[0]).toBeGreaterThan(0);
      expect(student.result.steps).toBe(8 * 3);
      // The run directory holds the checkpoints and the log of every phase.
      const logged = new Set(runDir.events().map((e) => e['phase']));
      expect(logged).toEqual(new Set(['align-student', 'teacher', 'student']));
    } finally {
      cleanup();
    }
  }, 120_000);
});
