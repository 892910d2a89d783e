import { describe, expect, it } from 'vitest';

import { VIT_DEFAULTS, type VitConfig } from '../../src/nn/vit.js';
import { AdamW } from '../../src/optim/adamw.js';
import { Arena } from '../../src/tensor/arena.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Model } from '../../src/train/model.js';
import { NonFiniteLossError, alignStep, confidenceWeights, distillStep, supervisedStep, teacherTargets } from '../../src/train/steps.js';
import { Rng } from '../../src/util/rng.js';

const enc: VitConfig = { ...VIT_DEFAULTS, imgSize: 16, patchSize: 4, embedDim: 32, depth: 2, numHeads: 2 };

function randomTensor(rng: Rng, shape: number[], std = 1): Tensor {
  const t = Tensor.zeros(shape);
  t.data.forEach((_, i, d) => (d[i] = rng.normal() * std));
  return t;
}

describe('phase steps', () => {
  it('alignment: cosine loss to fixed CLIP-like targets falls', () => {
    const rng = new Rng(3);
    const model = new Model({ encoder: enc, head: { kind: 'projector', outDim: 24 } }).init(rng);
    const images = randomTensor(rng, [8, 3, 16, 16]);
    const clip = randomTensor(rng, [8, 24]);
    const opt = new AdamW(model.params, { lr: 2e-3, weightDecay: 0 });
    const arena = new Arena('t');
    const losses: number[] = [];
    for (let s = 0; s < 60; s++) {
      model.params.zeroGrad();
      losses.push(alignStep(model, images, clip, arena));
      opt.update(2e-3);
    }
    expect(losses[0]).toBeGreaterThan(0.5); // random features: cosine near 0
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] as number / 4);
  });

  it('distillation: a student trained only on teacher targets approaches the teacher', () => {
    const rng = new Rng(4);
    const teacher = new Model({ encoder: { ...enc, embedDim: 48, numHeads: 3 }, head: { kind: 'score', bins: 5 } }).init(rng);
    // A confident teacher: scale its head so targets are not near-uniform.
    teacher.params.get('head.weight').value.data.forEach((_, i, d) => (d[i] = rng.normal() * 2));
    const student = new Model({ encoder: enc, head: { kind: 'score', bins: 5 } }).init(rng);
    const arena = new Arena('t');
    const unl = randomTensor(rng, [8, 3, 16, 16]);
    const targets = teacherTargets(teacher, unl, arena);
    const labeled = { images: randomTensor(rng, [2, 3, 16, 16]), labels: Tensor.zeros([2, 5]).fill(0.2) };
    const opt = new AdamW(student.params, { lr: 2e-3, weightDecay: 0 });
    const history: number[] = [];
    for (let s = 0; s < 60; s++) {
      student.params.zeroGrad();
      history.push(distillStep(student, labeled, { strong: unl, targets }, arena, { lambda: 1 }).unlabeled);
      opt.update(2e-3);
    }
    expect(history[history.length - 1]).toBeLessThan((history[0] as number) / 3);
  });

  it('confidence weights are 1 − H(p)/ln K', () => {
    const t = Tensor.from([1, 0, 0, 0, 0.25, 0.25, 0.25, 0.25, 0.5, 0.5, 0, 0], [3, 4]);
    const w = confidenceWeights(t).toArray();
    expect(w[0]).toBeCloseTo(1, 12);
    expect(w[1]).toBeCloseTo(0, 6);
    expect(w[2]).toBeCloseTo(1 - Math.log(2) / Math.log(4), 6);
  });

  it('a NaN input stops the step with a clear error before any update', () => {
    const rng = new Rng(5);
    const model = new Model({ encoder: enc, head: { kind: 'score', bins: 5 } }).init(rng);
    const images = randomTensor(rng, [2, 3, 16, 16]);
    images.data[7] = NaN;
    const arena = new Arena('t');
    const before = Float32Array.from(model.params.values.data);
    expect(() => supervisedStep(model, images, Tensor.zeros([2, 5]).fill(0.2), arena)).toThrow(NonFiniteLossError);
    expect(() => supervisedStep(model, images, Tensor.zeros([2, 5]).fill(0.2), arena)).toThrow(/emdLossFromLogits: loss is NaN/);
    expect(model.params.values.data).toEqual(before);
    // the arena was reset even though the step threw
    expect(arena.generation).toBe(2);
  });

  it('an aligned encoder carries into a score model by name', () => {
    const rng = new Rng(6);
    const aligned = new Model({ encoder: enc, head: { kind: 'projector', outDim: 24 } }).init(rng);
    const scorer = new Model({ encoder: enc, head: { kind: 'score', bins: 10 } }).init(new Rng(7));
    scorer.copyEncoderFrom(aligned);
    expect(scorer.params.get('blocks.1.mlp.fc2.weight').value.data).toEqual(aligned.params.get('blocks.1.mlp.fc2.weight').value.data);
    const wider = new Model({ encoder: { ...enc, embedDim: 48, numHeads: 3 }, head: { kind: 'score', bins: 10 } });
    expect(() => wider.copyEncoderFrom(aligned)).toThrow(/encoders differ:\n {2}patch_embed\.proj\.weight: source \[32, 3, 4, 4\], target \[48, 3, 4, 4\]/);
  });
});
