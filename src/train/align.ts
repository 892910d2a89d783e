// Phase 1, feature alignment: an encoder + projector learns to match the
// frozen CLIP embeddings stored for the unlabeled pool,
//   L_fa = mean_i (1 − cos(proj(enc(x_i)), t(clip(x_i))))   (or MSE / smooth-L1),
// on the same crop the embeddings were computed on; t is the identity, centring
// or standardisation (align_targets.ts). After each epoch the model is judged on
// a held-out slice of the pool (held_out.ts) against the raw embeddings, next to
// the mean-direction predictor; the best epoch's weights are what phase 2 reads.
import type { FeatureLookup } from '../clip/feature_store.js';
import { type ImageCache, ImageLoader, type LoaderItem } from '../data/loader.js';
import { type Communicator, LocalCommunicator } from '../dist/communicator.js';
import { globalCounts, rankSlice } from '../dist/data_parallel.js';
import { type ViewSpec, evalView } from '../data/transforms.js';
import type { PhaseName, RunDir } from '../run/run_dir.js';
import { Model } from '../model/model.js';
import type { ForwardContext } from '../nn/module.js';
import type { VitConfig } from '../nn/vit.js';
import { type AlignKind, LossSlot, alignLoss } from '../ops/losses.js';
import { Arena } from '../tensor/arena.js';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../util/rng.js';
import { type PhaseResult, runPhase } from './loop.js';
import { type CommonOptions, asBatch, phaseBase, rankBatches, recordBadFiles } from './phase_setup.js';
import { type AlignTargets, type TargetStats, cosineDistance, meanDirectionLoss, targetStats, toRaw, toTarget } from './align_targets.js';

/**
 * One step's arithmetic: forward, alignment loss to `clip` [B, D], backward,
 * on the arena's device (host inputs are copied there). Gradients accumulate
 * into the model's ParameterSet; the arena is reset.
 */
export function alignStep(model: Model, images: Tensor, clip: Tensor, arena: Arena, o: { loss?: AlignKind; gradScale?: number } = {}): number {
  if (images.shape[0] === 0) return 0; // this rank's slice held only bad images
  const ctx: ForwardContext = { arena, training: true };
  try {
    const z = model.forward(arena.place(images), ctx);
    const dz = arena.alloc(z.shape);
    const slot = new LossSlot('alignLoss', arena);
    const loss = alignLoss(z, arena.place(clip), { kind: o.loss ?? 'cosine', grad: dz, gradScale: o.gradScale ?? 1, into: slot.into });
    model.backward(dz, ctx);
    return slot.value(loss);
  } finally {
    arena.reset();
  }
}

/**
 * The same geometry as the store's view (centre crop), at the encoder's input
 * size, normalised as everywhere else the encoder is used (phase 2, evaluation,
 * the exported model): the frozen encoder's own normalisation (the stand-in's
 * is RGB/255) is its business, and an encoder aligned on one input scale and
 * fine-tuned on another starts phase 2 off its aligned features.
 */
export function alignmentView(features: FeatureLookup, size: number): ViewSpec {
  if (features.view.geometry.kind !== 'center') {
    throw new RangeError(`alignEncoder: the feature store's view is '${features.view.geometry.kind}'; phase 1 needs a centre-crop store`);
  }
  return { ...evalView(size), flipProbability: features.view.flipProbability };
}

/** One epoch's figures on the held-out slice (1 − cos against the raw embeddings). */
export interface AlignEval {
  loss: number;
  baseline: number;
  /** 1 − loss / baseline. */
  explained: number;
}

/**
 * Mean 1 − cos between the model's predictions (mapped back to the raw space)
 * and the raw embeddings of `items`, in eval mode, in a fixed order.
 */
export async function heldOutLoss(model: Model, items: readonly LoaderItem[], raw: readonly Float32Array[], stats: TargetStats, view: ViewSpec, o: RowOptions): Promise<{ loss: number; count: number }> {
  let sum = 0;
  let count = 0;
  const pred = new Float64Array(stats.dim);
  await predictRows(model, items, view, o, (i, z) => {
    sum += cosineDistance(toRaw(stats, z, pred), raw[i] as Float32Array);
    count++;
  });
  [sum, count] = globalCounts(o.comm ?? LOCAL, [sum, count], 'held-out loss') as [number, number];
  return { loss: count > 0 ? sum / count : NaN, count };
}

/**
 * The length the predicted unit direction gets in the target space: the
 * least-squares scale mean_i ⟨t_i, z_i/‖z_i‖⟩ over training images. A
 * direction that is only partly right is shrunk toward the mean, as it should
 * be; computed on training images only, so the held-out figures stay honest.
 */
export async function calibratedRadius(model: Model, items: readonly LoaderItem[], targets: readonly Float32Array[], view: ViewSpec, o: RowOptions): Promise<number> {
  let sum = 0;
  let count = 0;
  await predictRows(model, items, view, o, (i, z) => {
    const t = targets[i] as Float32Array;
    let dot = 0;
    let zz = 0;
    for (let d = 0; d < z.length; d++) {
      dot += t[d]! * z[d]!;
      zz += z[d]! * z[d]!;
    }
    if (zz > 0) sum += dot / Math.sqrt(zz);
    count++;
  });
  [sum, count] = globalCounts(o.comm ?? LOCAL, [sum, count], 'calibrated radius') as [number, number];
  return count > 0 ? Math.max(0, sum / count) : 0;
}

interface RowOptions {
  batchSize: number;
  cache?: ImageCache | null;
  /** Several ranks: each predicts a slice of the items (the callers sum over ranks). */
  comm?: Communicator;
}

const LOCAL = new LocalCommunicator();

/** The model's outputs over `items` (eval mode, fixed order), one row at a time on the host; this rank's slice of them. */
async function predictRows(model: Model, all: readonly LoaderItem[], view: ViewSpec, o: RowOptions, row: (item: number, z: Float32Array) => void): Promise<void> {
  const { start, end } = rankSlice(all.length, o.comm?.rank ?? 0, o.comm?.size ?? 1);
  const items = all.slice(start, end);
  const loader = new ImageLoader(items, { batchSize: o.batchSize, views: [view], seed: 0, shuffle: false, cache: o.cache ?? null });
  const arena = new Arena('align-eval', 1 << 20, model.params.device);
  for await (const b of loader.epoch(0)) {
    const z = model.forward(arena.place(asBatch(b).images), { arena, training: false });
    const D = z.shape[1] as number;
    const host = z.device === 'cpu' ? z.data : z.copyToHost();
    b.items.forEach((i, r) => row(start + i, host.subarray(r * D, (r + 1) * D)));
    arena.reset();
  }
}

/**
 * The metrics.jsonl contract for tools: one `align-eval` line per epoch, with
 * `selected` true on the epoch whose weights phase 2 reads. Written when the
 * phase ends (only then is the selected epoch known), from the epoch events
 * of the log, so epochs from before a resume are included. A rerun of a
 * finished phase writes nothing again; a phase extended by more epochs writes
 * its block again, and the last block in the log is the one that holds.
 */
export function logAlignEvals(runDir: RunDir, phase: PhaseName, heldOut: number, selected: number | null): void {
  const events = runDir.events();
  const byEpoch = new Map<number, AlignEval>();
  for (const e of events) if (e['event'] === 'epoch' && e['phase'] === phase && e['metrics']) byEpoch.set(e['epoch'] as number, e['metrics'] as AlignEval);
  const written = new Map<number, boolean>();
  for (const e of events) if (e['event'] === 'align-eval' && e['phase'] === phase) written.set(e['epoch'] as number, e['selected'] === true);
  if (written.size === byEpoch.size && [...byEpoch.keys()].every((ep) => written.get(ep) === (ep === selected))) return;
  for (const [epoch, m] of [...byEpoch.entries()].sort((a, b) => a[0] - b[0])) {
    runDir.log({ event: 'align-eval', phase, epoch, loss: m.loss, baseline: m.baseline, heldOut, selected: epoch === selected });
  }
}

export interface AlignOptions extends CommonOptions {
  encoder: VitConfig;
  /** Unlabeled images (all sources of the pool, each path once). */
  images: readonly string[];
  features: FeatureLookup;
  loss?: AlignKind;
  /** Projector hidden width (default: the CLIP width). */
  projectorHidden?: number;
  /** What the loss compares to (default 'raw'). */
  targets?: AlignTargets;
  /** Images judged after each epoch (none: no held-out figures, the last epoch is handed on). */
  heldOut?: readonly string[];
  /** Stop after this many epochs without a better held-out loss (null or absent: run every epoch). */
  patience?: number | null;
}

export interface AlignResult {
  model: Model;
  result: PhaseResult;
  /** Images without a stored embedding (training and held-out). */
  missing: number;
  /** Held-out images judged, and the mean-direction loss on them. */
  heldOut: number;
  baseline: number;
  /** The epoch whose weights were handed on (null without a held-out slice). */
  selectedEpoch: number | null;
}

/** The model phase 1 starts from: encoder + projector, initialised from `seed` (on the host). */
export function alignModel(o: Pick<AlignOptions, 'encoder' | 'features' | 'projectorHidden' | 'seed'>): Model {
  const model = new Model({ encoder: o.encoder, head: { kind: 'projector', outDim: o.features.dim, ...(o.projectorHidden ? { hidden: o.projectorHidden } : {}) } });
  return model.init(new Rng(o.seed));
}

/** Phase 1. Returns the aligned model (encoder + projector; the best held-out epoch's weights) and the phase summary. */
export async function alignEncoder(o: AlignOptions): Promise<AlignResult> {
  const model = alignModel(o).to(o.device ?? 'cpu');
  let missing = 0;
  const embedded = (paths: readonly string[]) => {
    const items: LoaderItem[] = [];
    const raw: Float32Array[] = [];
    for (const path of paths) {
      const e = o.features.get(path);
      if (e) {
        items.push({ path });
        raw.push(e);
      } else missing++;
    }
    return { items, raw };
  };
  const train = embedded(o.images);
  const held = embedded(o.heldOut ?? []);
  const { items } = train;
  if (items.length === 0) throw new Error(`${o.name}: none of the ${o.images.length} training images has a stored CLIP embedding`);
  const D = o.features.dim;
  const stats = targetStats(o.targets ?? 'raw', train.raw, D);
  const view = alignmentView(o.features, o.encoder.imgSize);
  const loader = new ImageLoader(items, { batchSize: o.batchSize, views: [view], seed: o.seed, dropLast: true, cache: o.cache ?? null, ...rankBatches(o.runDir) });
  const baseline = meanDirectionLoss(stats.mean, held.raw);
  // Up to 256 training images, evenly spaced, fix the predictions' length each epoch.
  const every = Math.max(1, Math.ceil(items.length / 256));
  const calibration = { items: items.filter((_, i) => i % every === 0), targets: train.raw.filter((_, i) => i % every === 0).map((r) => toTarget(stats, r, new Float32Array(D))) };
  const validation =
    held.items.length > 0
      ? {
          validate: async (): Promise<Record<string, number>> => {
            const eo = { batchSize: o.batchSize, cache: o.cache ?? null, comm: o.runDir.comm };
            // Centred and standardised predictions need a length in the raw space (see calibratedRadius).
            const radius = stats.kind === 'raw' ? stats.radius : await calibratedRadius(model, calibration.items, calibration.targets, view, eo);
            const { loss } = await heldOutLoss(model, held.items, held.raw, { ...stats, radius }, view, eo);
            return { loss, baseline, explained: 1 - loss / baseline };
          },
          bestKey: 'explained',
          ...(o.patience ? { stopBefore: (epoch: number, best: { epoch: number } | null) => best !== null && epoch - 1 - best.epoch >= (o.patience as number) } : {}),
        }
      : {};
  const result = await runPhase({
    ...phaseBase(o, model, items.length),
    ...validation,
    async *batches(epoch) {
      for await (const b of loader.epoch(epoch)) {
        // A host array per batch (not native memory): the step copies it to its device.
        const clip = new Tensor(new Float32Array(b.size * D), [b.size, D]);
        b.items.forEach((i, r) => toTarget(stats, train.raw[i] as Float32Array, clip.data.subarray(r * D, (r + 1) * D)));
        yield { ...asBatch(b), clip, counts: { align: b.size } };
      }
      recordBadFiles(o.runDir, loader);
    },
    step: (b, arena, scale) => ({ align: alignStep(model, b.images, b.clip, arena, { loss: o.loss ?? 'cosine', gradScale: scale['align'] ?? 1 }) }),
  });
  const selectedEpoch = held.items.length > 0 ? (result.best?.epoch ?? null) : null;
  if (held.items.length > 0) logAlignEvals(o.runDir, o.name, held.items.length, selectedEpoch);
  return { model, result, missing, heldOut: held.items.length, baseline, selectedEpoch };
}
