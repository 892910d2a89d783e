// The loop every CSKD phase shares: epochs of batches, one optimizer step per
// batch under a warm-up + cosine schedule, EMA, checkpoints (the last one
// every N steps and at each epoch end, the best one by a validation metric),
// exact resume from the last checkpoint, and a clean stop on a non-finite loss
// that keeps the last good checkpoint.
import { existsSync } from 'node:fs';

import { type Precision, withPrecision } from '../ops/precision.js';
import { AdamW } from '../optim/adamw.js';
import { Ema } from '../optim/ema.js';
import { cosineLr, layerDecayScale } from '../optim/schedule.js';
import { Arena } from '../tensor/arena.js';
import { loadCheckpoint, saveCheckpoint } from '../model/checkpoint.js';
import type { Model } from '../model/model.js';
import type { PhaseName, RunDir } from '../run/run_dir.js';
import { NonFiniteError } from '../util/errors.js';

export interface PhaseSettings {
  epochs: number;
  lr: number;
  minLr?: number;
  /** Warm-up length in epochs (fractions allowed). Default 1. */
  warmupEpochs?: number;
  weightDecay?: number;
  /** Global gradient-norm clip; 0 disables. Default 1. */
  clipNorm?: number;
  /** Layer-wise lr decay factor; 1 disables. Default 1. */
  layerDecay?: number;
  /** EMA of the weights (e.g. 0.999); null disables. Default null. */
  emaDecay?: number | null;
  /** Save the last checkpoint every N steps (and at every epoch end). Default 50. */
  checkpointEvery?: number;
  /** The training step's GEMMs and attention (src/ops/precision.ts); validation stays float32. Default 'fp32'. */
  precision?: Precision;
}

export interface PhaseBatch {
  size: number;
  /** Milliseconds the trainer waited for this batch. */
  waitMs: number;
}

export type TrainEvent =
  | { type: 'step'; phase: string; epoch: number; step: number; totalSteps: number; images: number; lr: number; losses: Record<string, number> }
  | { type: 'epoch'; phase: string; epoch: number; losses: Record<string, number>; metrics?: Record<string, number>; imagesPerSec: number; waitFraction: number }
  | { type: 'resume'; phase: string; step: number; epoch: number }
  | { type: 'stopped'; phase: string; reason: string }
  | { type: 'done'; phase: string; result: PhaseResult; seconds: number };

export interface PhaseSpec<B extends PhaseBatch> {
  name: PhaseName;
  model: Model;
  runDir: RunDir;
  settings: PhaseSettings;
  stepsPerEpoch: number;
  seed: number;
  batches(epoch: number): AsyncIterable<B>;
  /** Forward, loss and backward of one batch; returns the loss terms. */
  step(batch: B, arena: Arena): Record<string, number>;
  /** Validation after each epoch; metric values (larger is better for bestKey). */
  validate?(epoch: number): Promise<Record<string, number>>;
  bestKey?: string;
  /** Early stopping: true ends the phase before `epoch`. A function of the position alone, so a resume stops where the run would have. */
  stopBefore?(epoch: number, best: { epoch: number } | null): boolean;
  onEvent?(e: TrainEvent): void;
}

export interface PhaseResult {
  steps: number;
  epochs: number;
  losses: Record<string, number>;
  best: { epoch: number; metrics: Record<string, number> } | null;
  imagesPerSec: number;
  /** Fraction of wall time spent waiting for data. */
  waitFraction: number;
  resumed: boolean;
}

export class PhaseStoppedError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'PhaseStoppedError';
  }
}

interface Position {
  epoch: number;
  batch: number;
  best: { epoch: number; metrics: Record<string, number> } | null;
}

export async function runPhase<B extends PhaseBatch>(spec: PhaseSpec<B>): Promise<PhaseResult> {
  const s = spec.settings;
  const { model, runDir, name } = spec;
  const precision = s.precision ?? 'fp32';
  if (precision === 'bf16' && model.device === 'cpu') throw new RangeError(`${name}: precision bf16 needs a CUDA device; the model is on the cpu (the CPU kernels are float32)`);
  const depth = model.config.encoder.depth;
  const opt = new AdamW(model.params, {
    lr: s.lr,
    weightDecay: s.weightDecay ?? 0.05,
    clipNorm: s.clipNorm ?? 1,
    layerScale: layerDecayScale(s.layerDecay ?? 1, depth),
  });
  const ema = s.emaDecay ? new Ema(model.params, s.emaDecay) : null;
  const totalSteps = s.epochs * spec.stepsPerEpoch;
  const schedule = {
    lr: s.lr,
    minLr: s.minLr ?? s.lr * 0.01,
    totalSteps,
    warmupSteps: Math.max(1, Math.round((s.warmupEpochs ?? 1) * spec.stepsPerEpoch)),
  };
  let pos: Position = { epoch: 0, batch: 0, best: null };
  const last = runDir.checkpoint(name, 'last');
  let resumed = false;
  if (existsSync(last)) {
    const got = loadCheckpoint(last, { params: model.params, optimizer: opt, ema });
    pos = got.extra['position'] as Position;
    resumed = true;
    runDir.log({ phase: name, event: 'resume', step: opt.step, epoch: pos.epoch, batch: pos.batch });
    spec.onEvent?.({ type: 'resume', phase: name, step: opt.step, epoch: pos.epoch });
  }
  const save = (path: string, p: Position) =>
    saveCheckpoint(path, { params: model.params, optimizer: opt, ema, step: opt.step, config: model.config, extra: { position: p, phase: name } });

  // Activations live where the weights do.
  const arena = new Arena(name, 1 << 20, model.device);
  let losses: Record<string, number> = {};
  let images = 0;
  let waitMs = 0;
  const t0 = performance.now();
  for (let epoch = pos.epoch; epoch < s.epochs; epoch++) {
    if (spec.stopBefore?.(epoch, pos.best)) break;
    const sums: Record<string, number> = {};
    let count = 0;
    let batchIndex = 0;
    for await (const batch of spec.batches(epoch)) {
      if (epoch === pos.epoch && batchIndex < pos.batch) {
        batchIndex++; // done before the resume
        continue;
      }
      waitMs += batch.waitMs;
      model.params.zeroGrad();
      const lr = cosineLr(schedule, opt.step);
      try {
        losses = withPrecision(precision, () => spec.step(batch, arena));
        opt.update(lr);
      } catch (e) {
        // The loss ops and AdamW both throw before the weights change.
        if (e instanceof NonFiniteError) {
          const reason = `${name}: ${e.message} at epoch ${epoch}, step ${opt.step + 1}; the last good checkpoint is ${existsSync(last) ? last : '(none yet)'}`;
          runDir.log({ phase: name, event: 'stopped', reason });
          spec.onEvent?.({ type: 'stopped', phase: name, reason });
          throw new PhaseStoppedError(reason, e);
        }
        throw e;
      }
      ema?.update();
      batchIndex++;
      images += batch.size;
      count++;
      for (const [k, v] of Object.entries(losses)) sums[k] = (sums[k] ?? 0) + v;
      spec.onEvent?.({ type: 'step', phase: name, epoch, step: opt.step, totalSteps, images, lr, losses });
      if (opt.step % (s.checkpointEvery ?? 50) === 0) save(last, { epoch, batch: batchIndex, best: pos.best });
    }
    const mean = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / Math.max(1, count)]));
    let metrics: Record<string, number> | undefined;
    if (spec.validate) {
      ema?.swap();
      metrics = await spec.validate(epoch);
      const key = spec.bestKey;
      const better = key !== undefined && (pos.best === null || (metrics[key] ?? -Infinity) > (pos.best.metrics[key] ?? -Infinity));
      if (better) {
        pos.best = { epoch, metrics };
        save(runDir.checkpoint(name, 'best'), { epoch: epoch + 1, batch: 0, best: pos.best });
      }
      ema?.swap();
    }
    const elapsed = (performance.now() - t0) / 1000;
    const event = {
      type: 'epoch' as const,
      phase: name,
      epoch,
      losses: mean,
      ...(metrics ? { metrics } : {}),
      imagesPerSec: images / elapsed,
      waitFraction: waitMs / 1000 / elapsed,
    };
    runDir.log({ ...event, event: 'epoch', step: opt.step });
    spec.onEvent?.(event);
    save(last, { epoch: epoch + 1, batch: 0, best: pos.best });
  }
  // The best weights (by validation) are what the phase hands on, when it validated.
  const best = runDir.checkpoint(name, 'best');
  if (spec.bestKey && pos.best && existsSync(best)) loadCheckpoint(best, { params: model.params });
  else if (ema) ema.swap(); // hand on the averaged weights
  const elapsed = (performance.now() - t0) / 1000;
  const result: PhaseResult = {
    steps: opt.step,
    epochs: s.epochs,
    losses,
    best: pos.best,
    imagesPerSec: images / Math.max(elapsed, 1e-9),
    waitFraction: waitMs / 1000 / Math.max(elapsed, 1e-9),
    resumed,
  };
  spec.onEvent?.({ type: 'done', phase: name, result, seconds: elapsed });
  return result;
}
