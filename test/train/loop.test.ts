import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { VIT_DEFAULTS, type VitConfig } from '../../src/nn/vit.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Model } from '../../src/model/model.js';
import { PhaseStoppedError, runPhase, type PhaseSpec, type TrainEvent } from '../../src/train/loop.js';
import { RunDir } from '../../src/run/run_dir.js';
import { alignStep } from '../../src/train/align.js';
import { Rng } from '../../src/util/rng.js';

const enc: VitConfig = { ...VIT_DEFAULTS, imgSize: 16, patchSize: 4, embedDim: 32, depth: 2, numHeads: 2 };

interface B { size: number; waitMs: number; images: Tensor; clip: Tensor }

/** Deterministic in-memory batches: epoch e, batch i drawn from Rng(e, i). */
function batchesFor(poisonAt?: [number, number]) {
  return async function* (epoch: number): AsyncGenerator<B> {
    for (let i = 0; i < 4; i++) {
      const rng = Rng.for(11, epoch, i);
      const images = Tensor.zeros([4, 3, 16, 16]);
      images.data.forEach((_, j, d) => (d[j] = rng.normal()));
      if (poisonAt && poisonAt[0] === epoch && poisonAt[1] === i) images.data[0] = NaN;
      const clip = Tensor.zeros([4, 8]);
      clip.data.forEach((_, j, d) => (d[j] = rng.normal()));
      yield { size: 4, waitMs: 0, images, clip };
    }
  };
}

function spec(dir: string, batches = batchesFor(), onEvent?: (e: TrainEvent) => void): PhaseSpec<B> {
  const model = new Model({ encoder: enc, head: { kind: 'projector', outDim: 8 } }).init(new Rng(1));
  return {
    name: 'align-student',
    model,
    runDir: new RunDir(dir),
    settings: { epochs: 3, lr: 1e-3, checkpointEvery: 3, emaDecay: 0.9 },
    stepsPerEpoch: 4,
    seed: 1,
    batches,
    step: (b, arena) => ({ loss: alignStep(model, b.images, b.clip, arena) }),
    onEvent,
  };
}

describe('runPhase', () => {
  it('resumes exactly after a kill mid-epoch', async () => {
    const straight = spec(mkdtempSync(join(tmpdir(), 'cskd-phase-')));
    await runPhase(straight);

    const dir = mkdtempSync(join(tmpdir(), 'cskd-phase-'));
    // "Kill" during epoch 1 after batch 2 (step 6, just after the checkpoint at step 6).
    class Killed extends Error {}
    const first = spec(dir, batchesFor(), (e) => {
      if (e.type === 'step' && e.step === 7) throw new Killed();
    });
    await expect(runPhase(first)).rejects.toBeInstanceOf(Killed);
    const second = spec(dir);
    const r = await runPhase(second);
    expect(r.resumed).toBe(true);
    expect(r.steps).toBe(12);
    expect(Buffer.from(second.model.params.values.data.buffer).equals(Buffer.from(straight.model.params.values.data.buffer))).toBe(true);
    const events = second.runDir.events();
    expect(events.some((e) => e['event'] === 'resume' && e['step'] === 6)).toBe(true);
  });

  it('stops on a NaN loss with a clear message and keeps the last good checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cskd-phase-'));
    const s = spec(dir, batchesFor([1, 1]));
    const err = await runPhase(s).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PhaseStoppedError);
    expect((err as Error).message).toMatch(/align-student: alignLoss: loss is NaN .* at epoch 1, step 6; the last good checkpoint is .*align-student-last\.safetensors/);
    expect(s.runDir.events().some((e) => e['event'] === 'stopped')).toBe(true);
    // The kept checkpoint loads and holds finite weights.
    const again = spec(dir);
    again.settings.epochs = 1; // already complete at epoch 1: nothing to redo
    const r = await runPhase(again);
    expect(r.resumed).toBe(true);
    expect(again.model.params.values.data.every(Number.isFinite)).toBe(true);
  });

  it('stops on a non-finite gradient behind a finite loss, naming the phase, epoch and step, with clipping off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cskd-phase-'));
    const s = spec(dir);
    s.settings.clipNorm = 0;
    const model = s.model;
    let calls = 0;
    s.step = (b, arena) => {
      const loss = alignStep(model, b.images, b.clip, arena);
      if (++calls === 6) model.params.grads.data[3] = Infinity; // epoch 1, its second batch
      return { loss };
    };
    const err = await runPhase(s).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PhaseStoppedError);
    expect((err as Error).message).toMatch(/^align-student: AdamW: gradient norm is Infinity at epoch 1, step 6; the last good checkpoint is .*align-student-last\.safetensors$/);
    expect(model.params.values.data.every(Number.isFinite)).toBe(true);
  });
});
