import { describe, expect, it } from 'vitest';

import { VIT_DEFAULTS, type VitConfig } from '../../src/nn/vit.js';
import { AdamW } from '../../src/optim/adamw.js';
import { Arena } from '../../src/tensor/arena.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Model } from '../../src/model/model.js';
import { NonFiniteLossError } from '../../src/ops/losses.js';
import { alignStep } from '../../src/train/align.js';
import { confidenceWeights, distillStep, teacherTargets } from '../../src/train/distill.js';
import { supervisedStep } from '../../src/train/finetune.js';
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

  it('a NaN input throws before backward: the gradients accumulated so far stay as they were', () => {
    const rng = new Rng(5);
    const model = new Model({ encoder: enc, head: { kind: 'score', bins: 5 } }).init(rng);
    const good = randomTensor(rng, [2, 3, 16, 16]);
    const bad = Tensor.from(good.data, good.shape);
    bad.data[7] = NaN;
    const labels = Tensor.zeros([2, 5]).fill(0.2);
    const arena = new Arena('t');
    // The reference: the gradients of the good batch alone.
    model.params.zeroGrad();
    supervisedStep(model, good, labels, arena);
    const expected = Float32Array.from(model.params.grads.data);
    expect(expected.some((g) => g !== 0)).toBe(true);
    // The same good batch, then a poisoned one on top of it.
    model.params.zeroGrad();
    supervisedStep(model, good, labels, arena);
    expect(() => supervisedStep(model, bad, labels, arena)).toThrow(NonFiniteLossError);
    expect(() => supervisedStep(model, bad, labels, arena)).toThrow(/emdLossFromLogits: loss is NaN/);
    expect(model.params.grads.data).toEqual(expected);
    // the arena was reset each time, also when the step threw
    expect(arena.generation).toBe(4);
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
