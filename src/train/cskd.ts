// The CSKD phases as functions over datasets (the TS API behind `cskd align`,
// `cskd finetune`, `cskd distill` and `cskd train`).
//
//   alignEncoder   phase 1: encoder + projector → frozen CLIP embeddings (cached)
//   finetune       phase 2a: encoder + score head → label distributions (EMD)
//   distill        phase 2b: student ← labels + λ · teacher(weak view) on unlabeled (strong view)
import { type Batch, type ImageCache, ImageLoader, type LoaderItem } from '../data/loader.js';
import type { LabeledSplit } from '../data/datasets.js';
import { type ViewSpec, evalView, strongView, weakView } from '../data/transforms.js';
import { evaluateSplit } from '../eval/evaluate.js';
import type { ParameterSet } from '../nn/parameters.js';
import type { VitConfig } from '../nn/vit.js';
import type { AlignKind } from '../ops/losses.js';
import { Arena } from '../tensor/arena.js';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../util/rng.js';
import { Model } from './model.js';
import { type PhaseResult, type PhaseSettings, type TrainEvent, runPhase } from './phase.js';
import type { RunDir } from './run_dir.js';
import { type DistillOptions, alignStep, distillStep, supervisedStep, teacherTargets } from './steps.js';

/** Cached frozen-CLIP embeddings, looked up by image path (see src/clip's FeatureStore). */
export interface FeatureLookup {
  readonly dim: number;
  /** The view the embeddings were computed on; phase 1 shows the encoder the same one. */
  readonly view: ViewSpec;
  /** The embedding of an image, or null when the store has none for it. */
  get(path: string): Float32Array | null;
}

export interface CommonOptions {
  name: string;
  runDir: RunDir;
  seed: number;
  batchSize: number;
  settings: PhaseSettings;
  /** Decoded images kept in memory across epochs and phases (see ImageCache). */
  cache?: ImageCache | null;
  onEvent?(e: TrainEvent): void;
}

function asBatch(b: Batch, view = 0): { size: number; waitMs: number; images: Tensor } {
  const S = Math.round(Math.sqrt((b.images[view] as Float32Array).length / (3 * b.size)));
  return { size: b.size, waitMs: b.waitMs, images: new Tensor(b.images[view] as Float32Array, [b.size, 3, S, S]) };
}

/** The parts of a phase's spec every CSKD phase fills the same way. */
function phaseBase(o: CommonOptions, model: Model, examples: number) {
  return {
    name: o.name,
    model,
    runDir: o.runDir,
    settings: o.settings,
    stepsPerEpoch: Math.max(1, Math.floor(examples / o.batchSize)),
    seed: o.seed,
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
  };
}

/** Lists the loaders' bad files in the run directory (each once). */
function recordBadFiles(runDir: RunDir, ...loaders: (ImageLoader | null)[]): void {
  runDir.recordSkipped(loaders.flatMap((l) => (l ? [...l.badFiles.values()] : [])).map((e) => [e.file, `${e.kind}: ${e.detail}`]));
}

/** The same geometry as the store's view (centre crop), at the encoder's input size. */
function alignmentView(features: FeatureLookup, size: number): ViewSpec {
  if (features.view.geometry.kind !== 'center') {
    throw new RangeError(`alignEncoder: the feature store's view is '${features.view.geometry.kind}'; phase 1 needs a centre-crop store`);
  }
  return { ...evalView(size, features.view.normalization), flipProbability: features.view.flipProbability };
}

export interface AlignOptions extends CommonOptions {
  encoder: VitConfig;
  /** Unlabeled images (all sources of the pool, each path once). */
  images: readonly string[];
  features: FeatureLookup;
  loss?: AlignKind;
  /** Projector hidden width (default: the CLIP width). */
  projectorHidden?: number;
}

/** Phase 1. Returns the aligned model (encoder + projector) and the phase summary. */
export async function alignEncoder(o: AlignOptions): Promise<{ model: Model; result: PhaseResult; missing: number }> {
  const model = new Model({ encoder: o.encoder, head: { kind: 'projector', outDim: o.features.dim, ...(o.projectorHidden ? { hidden: o.projectorHidden } : {}) } });
  model.init(new Rng(o.seed));
  const items: LoaderItem[] = [];
  let missing = 0;
  for (const path of o.images) {
    if (o.features.get(path)) items.push({ path });
    else missing++;
  }
  if (items.length === 0) throw new Error(`${o.name}: none of the ${o.images.length} images has a stored CLIP embedding`);
  const loader = new ImageLoader(items, { batchSize: o.batchSize, views: [alignmentView(o.features, o.encoder.imgSize)], seed: o.seed, dropLast: true, cache: o.cache ?? null });
  const D = o.features.dim;
  const result = await runPhase({
    ...phaseBase(o, model, items.length),
    async *batches(epoch) {
      for await (const b of loader.epoch(epoch)) {
        const clip = Tensor.zeros([b.size, D]);
        b.items.forEach((i, r) => clip.data.set(o.features.get((items[i] as LoaderItem).path) as Float32Array, r * D));
        yield { ...asBatch(b), clip };
      }
      recordBadFiles(o.runDir, loader);
    },
    step: (b, arena) => ({ align: alignStep(model, b.images, b.clip, arena, { loss: o.loss ?? 'cosine' }) }),
  });
  return { model, result, missing };
}

function labeledItems(split: LabeledSplit): LoaderItem[] {
  return split.samples.map((s) => ({ path: s.path, distribution: s.distribution, mean: s.mean }));
}

function scoreModel(encoder: VitConfig, bins: number, seed: number, from: { params: ParameterSet } | null): Model {
  const m = new Model({ encoder, head: { kind: 'score', bins } }).init(new Rng(seed));
  if (from) m.copyEncoderFrom(from);
  return m;
}

function validator(model: Model, val: LabeledSplit | null, size: number, threshold: number, cache: ImageCache | null) {
  if (!val) return {};
  return {
    validate: async () => {
      const ev = await evaluateSplit(model, val, evalView(size), { threshold, cache });
      return { srcc: ev.report.srcc, plcc: ev.report.plcc, emd: ev.report.emd ?? NaN };
    },
    bestKey: 'srcc',
  };
}

export interface FinetuneOptions extends CommonOptions {
  encoder: VitConfig;
  /** Start from this model's encoder weights (an aligned encoder, CLIP's vision tower); null: from the init. */
  init: { params: ParameterSet } | null;
  train: LabeledSplit;
  val: LabeledSplit | null;
  threshold?: number;
}

/** Phase 2a (the teacher, and the no-unlabeled baseline): EMD to the labels. */
export async function finetune(o: FinetuneOptions): Promise<{ model: Model; result: PhaseResult }> {
  const model = scoreModel(o.encoder, o.train.bins.length, o.seed, o.init);
  const items = labeledItems(o.train);
  const size = o.encoder.imgSize;
  const loader = new ImageLoader(items, { batchSize: o.batchSize, views: [strongView(size)], seed: o.seed, dropLast: true, cache: o.cache ?? null });
  const K = o.train.bins.length;
  const result = await runPhase({
    ...phaseBase(o, model, items.length),
    async *batches(epoch) {
      for await (const b of loader.epoch(epoch)) {
        yield { ...asBatch(b), labels: Tensor.from(b.distributions as Float64Array, [b.size, K]) };
      }
      recordBadFiles(o.runDir, loader);
    },
    step: (b, arena) => ({ emd: supervisedStep(model, b.images, b.labels, arena) }),
    ...validator(model, o.val, size, o.threshold ?? 5, o.cache ?? null),
  });
  return { model, result };
}

export interface DistillPhaseOptions extends FinetuneOptions, DistillOptions {
  teacher: Model;
  /** Unlabeled images; an empty list trains on labels alone. */
  unlabeled: readonly string[];
  /** Unlabeled images per step. Default: batchSize. */
  unlabeledBatchSize?: number;
}

/** Phase 2b: the student on labels plus the teacher's predictions for unlabeled images. */
export async function distill(o: DistillPhaseOptions): Promise<{ model: Model; result: PhaseResult }> {
  const model = scoreModel(o.encoder, o.train.bins.length, o.seed, o.init);
  const K = o.train.bins.length;
  const size = o.encoder.imgSize;
  const tSize = o.teacher.config.encoder.imgSize;
  const items = labeledItems(o.train);
  const cache = o.cache ?? null;
  const labeled = new ImageLoader(items, { batchSize: o.batchSize, views: [strongView(size)], seed: o.seed, dropLast: true, cache });
  const unlItems: LoaderItem[] = o.unlabeled.map((path) => ({ path }));
  const ub = o.unlabeledBatchSize ?? o.batchSize;
  // Teacher on the weak view at its own size; student on the strong view at its size.
  const unlabeled = unlItems.length > 0 ? new ImageLoader(unlItems, { batchSize: ub, views: [weakView(tSize), strongView(size)], seed: o.seed + 1, dropLast: true, cache }) : null;
  const teacherArena = new Arena('teacher');
  const result = await runPhase({
    ...phaseBase(o, model, items.length),
    async *batches(epoch) {
      // The unlabeled stream restarts (reshuffled) whenever it runs out.
      let uEpoch = epoch * 1000;
      let uIter = unlabeled ? unlabeled.epoch(uEpoch)[Symbol.asyncIterator]() : null;
      for await (const b of labeled.epoch(epoch)) {
        let unl: { strong: Tensor; targets: Tensor } | null = null;
        let waitMs = b.waitMs;
        if (uIter && unlabeled) {
          let next = await uIter.next();
          if (next.done) {
            uIter = unlabeled.epoch(++uEpoch)[Symbol.asyncIterator]();
            next = await uIter.next();
          }
          if (!next.done) {
            const u = next.value;
            waitMs += u.waitMs;
            const weak = asBatch(u, 0).images;
            unl = { strong: asBatch(u, 1).images, targets: teacherTargets(o.teacher, weak, teacherArena, o.temperature ?? 1) };
          }
        }
        yield { ...asBatch(b), waitMs, labels: Tensor.from(b.distributions as Float64Array, [b.size, K]), unl };
      }
      unlabeled?.prefetchEpoch((epoch + 1) * 1000); // where the next epoch's stream starts
      recordBadFiles(o.runDir, labeled, unlabeled);
    },
    step: (b, arena) => distillStep(model, { images: b.images, labels: b.labels }, b.unl, arena, o),
    ...validator(model, o.val, size, o.threshold ?? 5, o.cache ?? null),
  });
  return { model, result };
}
