// The loop every CSKD phase shares: epochs of batches, one optimizer step per
// batch under a warm-up + cosine schedule, EMA, checkpoints (the last one
// every N steps and at each epoch end, the best one by a validation metric),
// exact resume from the last checkpoint, and a clean stop on a non-finite loss
// that keeps the last good checkpoint.
//
// Under several ranks (the run directory's communicator) it trains as one
// process would on the same global batches (docs/distributed.md): each rank
// steps on its slice with loss gradients scaled local/global, the gradient is
// summed once per step, loss scalars and every stop decision are reduced, and
// rank 0 alone writes. One process takes none of those collectives.
import { existsSync } from 'node:fs';

import { allgatherJson, distEvent, globalCounts, gradScale, perRank, reduceGradients } from '../dist/data_parallel.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Precision, withPrecision } from '../ops/precision.js';
import { prefetchToDevice } from './device_prefetch.js';
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
  /** Images in this rank's part of the batch. */
  size: number;
  /** Milliseconds the trainer waited for this batch. */
  waitMs: number;
  /**
   * Images behind each loss term on this rank, by the term's name in the
   * step's losses (default: every term has `size`). Summed over the ranks,
   * they give each term's gradient scale and the losses' global means.
   */
  counts?: Record<string, number>;
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
  /**
   * Forward, loss and backward of one batch; returns the loss terms (each the
   * mean over this rank's images). `scale[term]` is local / global images of
   * that term, the factor on its gradient (1 in one process); a term with no
   * images here must return 0 and add no gradient.
   */
  step(batch: B, arena: Arena, scale: Record<string, number>): Record<string, number>;
  /** Validation after each epoch; metric values (larger is better for bestKey). */
  validate?(epoch: number): Promise<Record<string, number>>;
  bestKey?: string;
  /** Early stopping: true ends the phase before `epoch`. A function of the position alone, so a resume stops where the run would have. */
  stopBefore?(epoch: number, best: { epoch: number } | null): boolean;
  onEvent?(e: TrainEvent): void;
  /** Called after each step's gradient is complete (summed over the ranks), before the update: gradient monitors, tests. */
  onGradients?(step: number, grads: Tensor): void;
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
  const comm = runDir.comm;
  const dp = comm.size > 1;
  let pos: Position = { epoch: 0, batch: 0, best: null };
  const last = runDir.checkpoint(name, 'last');
  let resumed = false;
  // Every rank resumes from the checkpoint rank 0 sees, once every rank is here
  // (none still writing a file of the phase before).
  if (dp) comm.barrier(`${name}: start`);
  if (dp ? comm.broadcastJson(comm.rank === 0 ? existsSync(last) : undefined, 0, `${name}: resume?`) : existsSync(last)) {
    const got = loadCheckpoint(last, { params: model.params, optimizer: opt, ema });
    pos = got.extra['position'] as Position;
    resumed = true;
    runDir.log({ phase: name, event: 'resume', step: opt.step, epoch: pos.epoch, batch: pos.batch });
    spec.onEvent?.({ type: 'resume', phase: name, step: opt.step, epoch: pos.epoch });
  }
  // The same seed or file gives every rank the same weights; rank 0's make sure.
  if (dp) comm.broadcast(model.params.values, 0, `${name}: initial weights`);
  const save = (path: string, p: Position) => {
    if (runDir.writer) saveCheckpoint(path, { params: model.params, optimizer: opt, ema, step: opt.step, config: model.config, extra: { position: p, phase: name } });
  };
  const stop = (reason: string, cause: unknown): never => {
    runDir.log({ phase: name, event: 'stopped', reason });
    spec.onEvent?.({ type: 'stopped', phase: name, reason });
    throw new PhaseStoppedError(reason, cause);
  };

  // Activations live where the weights do.
  const arena = new Arena(name, 1 << 20, model.device);
  let losses: Record<string, number> = {};
  let images = 0;
  let waitMs = 0;
  const t0 = performance.now();
  let localImages = 0;
  for (let epoch = pos.epoch; epoch < s.epochs; epoch++) {
    if (spec.stopBefore?.(epoch, pos.best)) break;
    const sums: Record<string, number> = {};
    let count = 0;
    let batchIndex = 0;
    const rankEpoch = { images: 0, waitMs: 0, stepMs: 0, reduceMs: 0 };
    // On a device, each batch's inputs are uploaded on the copy stream while the step before it runs.
    const source = model.device === 'cpu' ? spec.batches(epoch) : prefetchToDevice(spec.batches(epoch), model.device);
    for await (const batch of source) {
      if (epoch === pos.epoch && batchIndex < pos.batch) {
        batchIndex++; // done before the resume
        continue;
      }
      const stepStart = performance.now();
      waitMs += batch.waitMs;
      rankEpoch.waitMs += batch.waitMs;
      comm.setStep(opt.step + 1);
      // Every rank's images of each term, summed: the batch as one process sees it.
      const terms = Object.keys(batch.counts ?? {}).sort();
      if (dp && terms.length === 0) throw new Error(`${name}: its batches give no per-term image counts, which training on ${comm.size} ranks needs`);
      const local = [batch.size, ...terms.map((k) => batch.counts![k]!)];
      const global = globalCounts(comm, local, 'batch counts');
      batchIndex++;
      if (global[0] === 0 && global.every((g) => g === 0)) continue; // every image of the batch was bad: no step anywhere
      const scale: Record<string, number> = {};
      terms.forEach((k, i) => (scale[k] = gradScale(local[i + 1]!, global[i + 1]!)));
      model.params.zeroGrad();
      const lr = cosineLr(schedule, opt.step);
      const where = () => `at epoch ${epoch}, step ${opt.step + 1}; the last good checkpoint is ${existsSync(last) ? last : '(none yet)'}`;
      let failed: NonFiniteError | null = null;
      try {
        losses = withPrecision(precision, () => spec.step(batch, arena, scale));
      } catch (e) {
        // The loss ops throw before the weights change; under several ranks
        // the others must hear of it before anyone stops.
        if (!(e instanceof NonFiniteError)) throw e;
        if (!dp) stop(`${name}: ${e.message} ${where()}`, e);
        failed = e;
      }
      if (dp) {
        const t = performance.now();
        reduceGradients(comm, model.params.grads);
        rankEpoch.reduceMs += performance.now() - t;
        // One reduction for the losses (weighted by images) and who failed.
        const flags = Array.from({ length: comm.size }, (_, r) => (r === comm.rank && failed ? 1 : 0));
        const reduced = comm.allReduceNumbers([...flags, ...terms.map((k, i) => (failed ? 0 : (losses[k] ?? 0) * local[i + 1]!))], 'losses');
        const bad = flags.map((_, r) => r).filter((r) => reduced[r]! > 0);
        if (bad.length > 0) {
          const messages = allgatherJson(comm, failed?.message ?? null, 'non-finite loss');
          const first = bad[0]!;
          stop(`${name}: rank ${first}: ${messages[first]}${bad.length > 1 ? ` (and ranks ${bad.slice(1).join(', ')})` : ''} ${where()}`, failed);
        }
        losses = Object.fromEntries(terms.map((k, i) => [k, global[i + 1]! > 0 ? reduced[comm.size + i]! / global[i + 1]! : 0]));
      }
      spec.onGradients?.(opt.step + 1, model.params.grads);
      try {
        opt.update(lr);
      } catch (e) {
        // AdamW throws before the weights change; the gradient is the same on every rank, and so is this.
        if (e instanceof NonFiniteError) stop(`${name}: ${e.message} ${where()}`, e);
        throw e;
      }
      ema?.update();
      images += global[0]!;
      localImages += batch.size;
      rankEpoch.images += batch.size;
      count++;
      for (const [k, v] of Object.entries(losses)) sums[k] = (sums[k] ?? 0) + v;
      spec.onEvent?.({ type: 'step', phase: name, epoch, step: opt.step, totalSteps, images, lr, losses });
      if (opt.step % (s.checkpointEvery ?? 50) === 0) save(last, { epoch, batch: batchIndex, best: pos.best });
      rankEpoch.stepMs += performance.now() - stepStart;
    }
    runDir.rankLog({ phase: name, event: 'rank-epoch', epoch, ...rankEpoch });
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
  if (dp) runDir.log({ ...distEvent(comm, perRank(comm, localImages, `${name}: images per rank`), model.params.device), phase: name });
  // The best weights (by validation) are what the phase hands on, when it
  // validated: every rank reads rank 0's file once it is written.
  if (dp) comm.barrier(`${name}: best checkpoint written`);
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
