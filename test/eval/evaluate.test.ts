import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { decodeImage } from '../../src/data/decode.js';
import type { LabeledSplit } from '../../src/data/datasets.js';

import { evalView } from '../../src/data/transforms.js';
import { evaluateSplit } from '../../src/eval/evaluate.js';
import { VIT_DEFAULTS } from '../../src/nn/vit.js';
import { softmaxForward } from '../../src/ops/softmax.js';
import { Arena } from '../../src/tensor/arena.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Model } from '../../src/model/model.js';
import { Rng } from '../../src/util/rng.js';
import { encodePng, tempDir } from '../data/images.js';
import { emdRef, pearsonRef, spearmanRef } from '../helpers/reference.js';

describe('evaluateSplit', () => {
  it('scores every readable image as a direct forward would, lists the bad ones, and reports the metrics', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const rng = new Rng(3);
      const bins = [1, 2, 3, 4, 5];
      const samples: LabeledSplit['samples'] = [];
      for (let i = 0; i < 7; i++) {
        const px: number[] = [];
        for (let j = 0; j < 24 * 20 * 3; j++) px.push(Math.floor(rng.uniform() * 256));
        const path = join(dir, `img${i}.png`);
        writeFileSync(path, encodePng(px, 24, 20, 2, 8));
        const distribution = Float64Array.from(bins, (_, k) => (k === i % 5 ? 0.6 : 0.1));
        samples.push({ id: `img${i}`, path, distribution, mean: 1 + (i % 5) + 0.1 * i, votes: null, file: 'labels.csv', line: i + 2 });
      }
      const bad = join(dir, 'bad.png');
      writeFileSync(bad, 'not an image');
      samples.push({ id: 'bad', path: bad, distribution: Float64Array.from(bins, () => 0.2), mean: 3, votes: null, file: 'labels.csv', line: 9 });
      const split: LabeledSplit = { name: 'test', format: 'csv' as LabeledSplit['format'], bins, samples, issues: [] };

      const model = new Model({ encoder: { ...VIT_DEFAULTS, imgSize: 16, patchSize: 4, embedDim: 32, depth: 1, numHeads: 2 }, head: { kind: 'score', bins: 5 } }).init(rng);
      model.params.get('head.weight').value.data.forEach((_, i, d) => (d[i] = rng.normal())); // spread the scores
      const view = evalView(16);
      const ev = await evaluateSplit(model, split, view, { batchSize: 3, threshold: 3 });

      expect(ev.predictions.paths).toHaveLength(7);
      expect([...ev.predictions.skipped.keys()]).toEqual([bad]);
      // Direct: decode each image with the same view, forward one by one.
      const arena = new Arena('t');
      const means: number[] = [];
      const dists: number[] = [];
      for (let i = 0; i < 7; i++) {
        const x = await decodeImage((samples[i] as { path: string }).path, view, new Rng(0));
        const logits = model.forward(new Tensor(x, [1, 3, 16, 16]), { arena, training: false });
        const p = Tensor.zeros([1, 5]);
        softmaxForward(logits, p);
        dists.push(...p.toArray());
        means.push(p.toArray().reduce((s, v, k) => s + v * (bins[k] as number), 0));
        arena.reset();
      }
      ev.predictions.means.forEach((m, i) => expect(m).toBeCloseTo(means[i] as number, 5));
      const targets = samples.slice(0, 7).map((s) => s.mean);
      expect(ev.report.count).toBe(7);
      // The metrics against plain float64 formulas written here, not the module's own.
      expect(ev.report.srcc).toBeCloseTo(spearmanRef(means, targets), 6);
      expect(ev.report.plcc).toBeCloseTo(pearsonRef(means, targets), 5);
      const targetDists = samples.slice(0, 7).flatMap((s) => Array.from(s.distribution));
      expect(ev.report.emd).toBeCloseTo(emdRef(dists, targetDists, 7, 5), 5);
    } finally {
      cleanup();
    }
  });
});
