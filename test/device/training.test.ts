// The CSKD phases on the device, through the same functions `cskd train`
// calls (loader, loop, AdamW with clipping, checkpoints, validation), against
// the same phases on the CPU: losses, validation metrics and predictions
// agree; a run checkpointed on the device resumes on the CPU; a non-finite
// loss stops a phase on the device and keeps the last good checkpoint.
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import type { FeatureLookup } from '../../src/clip/feature_store.js';
import { evalView } from '../../src/data/transforms.js';
import { predict } from '../../src/eval/evaluate.js';
import { loadCheckpoint } from '../../src/model/checkpoint.js';
import { Model } from '../../src/model/model.js';
import { VIT_DEFAULTS, type VitConfig } from '../../src/nn/vit.js';
import { RunDir } from '../../src/run/run_dir.js';
import type { Device } from '../../src/tensor/device_memory.js';
import { alignEncoder } from '../../src/train/align.js';
import { distill } from '../../src/train/distill.js';
import { finetune } from '../../src/train/finetune.js';
import { PhaseStoppedError, type TrainEvent } from '../../src/train/loop.js';
import { Rng } from '../../src/util/rng.js';
import { tempDir } from '../data/images.js';
import { brightnessImage, labeledSplit } from '../helpers/labeled_images.js';
import { DEVICE, expectDevice, maxRelative } from './helpers.js';

// 4 patches + CLS = 5 tokens, width 16, one block: small enough for the emulation.
const enc: VitConfig = { ...VIT_DEFAULTS, imgSize: 8, patchSize: 4, embedDim: 16, depth: 1, numHeads: 2 };
const bins = [1, 2, 3, 4, 5];
const { dir, cleanup } = tempDir('cskd-device-train-');
afterAll(cleanup);


const rng = new Rng(5);
const train = labeledSplit('train', Array.from({ length: 8 }, (_, i) => brightnessImage(dir, `t${i}`, rng, 12)), bins);
const val = labeledSplit('val', Array.from({ length: 4 }, (_, i) => brightnessImage(dir, `v${i}`, rng, 12)), bins);
const pool = Array.from({ length: 8 }, (_, i) => brightnessImage(dir, `u${i}`, rng, 12).path);
const emb = new Map(pool.map((p) => [p, Float32Array.from({ length: 8 }, () => rng.normal())]));
const features: FeatureLookup = { dim: 8, view: evalView(224), get: (p) => emb.get(p) ?? null };

function epochs(events: TrainEvent[]): Extract<TrainEvent, { type: 'epoch' }>[] {
  return events.filter((e): e is Extract<TrainEvent, { type: 'epoch' }> => e.type === 'epoch');
}

/** Every epoch's losses and metrics of `got` within `budget` (relative) of `ref`. */
function expectSameEpochs(got: TrainEvent[], ref: TrainEvent[], budget: number): void {
  const a = epochs(got);
  const b = epochs(ref);
  expect(a.map((e) => `${e.phase}/${e.epoch}`)).toEqual(b.map((e) => `${e.phase}/${e.epoch}`));
  a.forEach((e, i) => {
    const r = b[i] as (typeof b)[number];
    for (const [k, v] of Object.entries({ ...r.losses, ...r.metrics })) {
      const x = { ...e.losses, ...e.metrics }[k] as number;
      expect(Math.abs(x - v) / Math.max(Math.abs(v), 1e-6), `${e.phase} epoch ${e.epoch} ${k}: ${x} vs ${v}`).toBeLessThanOrEqual(budget);
    }
  });
}

async function threePhases(device: Device, name: string) {
  const runDir = new RunDir(join(dir, name));
  const events: TrainEvent[] = [];
  const common = { runDir, seed: 1, batchSize: 4, device, onEvent: (e: TrainEvent) => events.push(e) };
  const aligned = await alignEncoder({ ...common, name: 'align-student', encoder: enc, images: pool, features, settings: { epochs: 2, lr: 3e-3 } });
  const teacher = await finetune({ ...common, name: 'teacher', encoder: enc, init: aligned.model, train, val, settings: { epochs: 2, lr: 3e-3, emaDecay: 0.5 } });
  const student = await distill({ ...common, name: 'student', encoder: enc, init: aligned.model, teacher: teacher.model, train, val, unlabeled: pool, settings: { epochs: 2, lr: 3e-3 } });
  return { events, aligned: aligned.model, teacher: teacher.model, student: student.model };
}

describe('the CSKD phases on the device', () => {
  it('align, fine-tune and distil match the CPU: losses, validation, predictions', async () => {
    expectDevice();
    const cpu = await threePhases('cpu', 'cpu');
    const dev = await threePhases(DEVICE, 'device');
    for (const m of [dev.aligned, dev.teacher, dev.student]) expect(m.device).toBe(DEVICE);
    expect(epochs(dev.events)).toHaveLength(6);
    expectSameEpochs(dev.events, cpu.events, 1e-4);
    // The shipped model's outputs (not its raw weights: AdamW turns the
    // round-off on exactly-zero gradients, such as the key bias's, into
    // lr-sized steps that change nothing downstream).
    const items = val.samples.map((s) => ({ path: s.path }));
    const pc = await predict(cpu.student, items, evalView(enc.imgSize), bins);
    const pd = await predict(dev.student, items, evalView(enc.imgSize), bins);
    const err = maxRelative(pd.distributions, pc.distributions);
    expect(err, `student predictions: relative error ${err}`).toBeLessThanOrEqual(1e-4);
  });

  it('a phase checkpointed on the device resumes on the CPU as if it had run there', async () => {
    const o = { name: 'teacher' as const, seed: 2, batchSize: 4, encoder: enc, init: null, train, val: null };
    // Two epochs, then resumed to a third, once all on the CPU and once with
    // the first two on the device.
    const run = async (name: string, first: Device) => {
      const runDir = new RunDir(join(dir, name));
      const events: TrainEvent[] = [];
      await finetune({ ...o, runDir, device: first, settings: { epochs: 2, lr: 3e-3 }, onEvent: (e) => events.push(e) });
      const resumed = await finetune({ ...o, runDir, device: 'cpu', settings: { epochs: 3, lr: 3e-3 }, onEvent: (e) => events.push(e) });
      expect(resumed.result.resumed).toBe(true);
      expect(resumed.model.device).toBe('cpu');
      return events;
    };
    const ref = await run('resume-cpu', 'cpu');
    const got = await run('resume-moved', DEVICE);
    expect(epochs(got).map((e) => e.epoch)).toEqual([0, 1, 2]);
    expectSameEpochs(got, ref, 1e-4);
  });

  it('a non-finite loss stops the phase on the device before the update; the last checkpoint loads', async () => {
    // Embeddings of their own, turned to NaN in place once epoch 0 ends.
    const own = new Map([...emb].map(([p, v]) => [p, Float32Array.from(v)]));
    const bad: FeatureLookup = { dim: 8, view: evalView(224), get: (p) => own.get(p) ?? null };
    const runDir = new RunDir(join(dir, 'nan'));
    const events: TrainEvent[] = [];
    const onEvent = (e: TrainEvent) => {
      events.push(e);
      if (e.type === 'epoch') for (const v of own.values()) v.fill(NaN);
    };
    const run = alignEncoder({ runDir, name: 'align-student', seed: 1, batchSize: 4, device: DEVICE, encoder: enc, images: pool, features: bad, settings: { epochs: 3, lr: 3e-3 }, onEvent });
    const err = await run.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PhaseStoppedError);
    expect((err as Error).message).toMatch(/align-student: alignLoss: loss is NaN .* at epoch 1, step 3; the last good checkpoint is .*last/);
    expect(events.filter((e) => e.type === 'stopped')).toHaveLength(1);
    // The checkpoint of epoch 0's end is intact and finite.
    const m = new Model({ encoder: enc, head: { kind: 'projector', outDim: 8 } });
    const got = loadCheckpoint(runDir.checkpoint('align-student', 'last'), { params: m.params });
    expect(got.step).toBe(2);
    expect(m.params.values.data.every((v) => Number.isFinite(v))).toBe(true);
  });
});
