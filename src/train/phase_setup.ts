// What every CSKD phase takes and the pieces each one builds its PhaseSpec
// from: the options they share, batches as tensors, bad-file bookkeeping, score
// models and validation.
import type { LabeledSplit } from '../data/datasets.js';
import type { Communicator } from '../dist/communicator.js';
import { allgatherJson } from '../dist/data_parallel.js';
import type { Batch, ImageCache, ImageLoader, LoaderItem } from '../data/loader.js';
import { evalView } from '../data/transforms.js';
import { evaluateSplit } from '../eval/evaluate.js';
import { Model } from '../model/model.js';
import type { ParameterSet } from '../nn/parameters.js';
import type { VitConfig } from '../nn/vit.js';
import type { PhaseName, RunDir } from '../run/run_dir.js';
import type { Device } from '../tensor/device_memory.js';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../util/rng.js';
import type { PhaseSettings, TrainEvent } from './loop.js';

export interface CommonOptions {
  name: PhaseName;
  runDir: RunDir;
  seed: number;
  batchSize: number;
  settings: PhaseSettings;
  /** Where the model trains: 'cpu' (default), 'cuda' or 'cuda:N'. */
  device?: Device | 'cuda';
  /** Decoded images kept in memory across epochs and phases (see ImageCache). */
  cache?: ImageCache | null;
  onEvent?(e: TrainEvent): void;
  /** Each step's complete gradient (summed over the ranks), before the update. */
  onGradients?(step: number, grads: Tensor): void;
}

/** A loader batch's view `view` as an [B, 3, S, S] tensor (no copy); B may be 0 (a rank's slice of bad images). */
export function asBatch(b: Batch, view = 0): { size: number; waitMs: number; images: Tensor } {
  const S = b.size > 0 ? Math.round(Math.sqrt((b.images[view] as Float32Array).length / (3 * b.size))) : 0;
  return { size: b.size, waitMs: b.waitMs, images: new Tensor(b.images[view] as Float32Array, [b.size, 3, S, S]) };
}

/** The parts of a phase's spec every CSKD phase fills the same way. */
export function phaseBase(o: CommonOptions, model: Model, examples: number) {
  return {
    name: o.name,
    model,
    runDir: o.runDir,
    settings: o.settings,
    stepsPerEpoch: Math.max(1, Math.floor(examples / o.batchSize)),
    seed: o.seed,
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
    ...(o.onGradients ? { onGradients: o.onGradients } : {}),
  };
}

/** Lists the loaders' bad files, every rank's, in the run directory (each once). Every rank calls it at the same point. */
export function recordBadFiles(runDir: RunDir, ...loaders: (ImageLoader | null)[]): void {
  const mine = loaders.flatMap((l) => (l ? [...l.badFiles.values()] : [])).map((e): [string, string] => [e.file, `${e.kind}: ${e.detail}`]);
  runDir.recordSkipped(allgatherJson(runDir.comm, mine, 'bad files').flat());
}

/** The loader option that cuts each global batch into this process's rank slice (one process: the whole batch). */
export function rankBatches(runDir: RunDir): { globalBatches: { rank: number; size: number } } {
  return { globalBatches: { rank: runDir.comm.rank, size: runDir.comm.size } };
}

export function labeledItems(split: LabeledSplit): LoaderItem[] {
  return split.samples.map((s) => ({ path: s.path, distribution: s.distribution, mean: s.mean }));
}

/** An encoder + score head on `device`, initialised from `seed`, its encoder copied from `from` when given. */
export function scoreModel(encoder: VitConfig, bins: number, seed: number, from: { params: ParameterSet } | null, device: Device | 'cuda' = 'cpu'): Model {
  const m = new Model({ encoder, head: { kind: 'score', bins } }).init(new Rng(seed)).to(device);
  if (from) m.copyEncoderFrom(from);
  return m;
}

/** Validation by SRCC on `val` after each epoch (none without a split); under several ranks each scores a slice and the predictions are gathered. */
export function validator(model: Model, val: LabeledSplit | null, size: number, threshold: number, cache: ImageCache | null, comm?: Communicator) {
  if (!val) return {};
  return {
    validate: async () => {
      const ev = await evaluateSplit(model, val, evalView(size), { threshold, cache, comm });
      return { srcc: ev.report.srcc, plcc: ev.report.plcc, emd: ev.report.emd ?? NaN };
    },
    bestKey: 'srcc',
  };
}
