// Phase 2b, the student: EMD to the labels on labeled images plus λ · EMD to
// the frozen teacher's distribution on unlabeled images,
//   L = EMD(student(x_l), y_l) + λ · EMD(student(strong(x_u)), teacher(weak(x_u))),
// the teacher seeing the weak view at its size, the student the strong view.
import { ImageLoader, type LoaderItem } from '../data/loader.js';
import { strongView, weakView } from '../data/transforms.js';
import type { Model } from '../model/model.js';
import type { ForwardContext } from '../nn/module.js';
import { softmaxForward } from '../ops/softmax.js';
import { Arena } from '../tensor/arena.js';
import { Tensor } from '../tensor/tensor.js';
import { emdThroughSoftmax, type FinetuneOptions, labelTensor, supervisedStep } from './finetune.js';
import { type PhaseResult, runPhase } from './loop.js';
import { asBatch, labeledItems, phaseBase, rankBatches, recordBadFiles, scoreModel, validator } from './phase_setup.js';

export interface DistillOptions {
  /** Weight of the unlabeled term (λ). Default 1. */
  lambda?: number;
  /** Teacher temperature: targets are softmax(teacher logits / T). Default 1. */
  temperature?: number;
  /**
   * Weight each unlabeled sample by the teacher's confidence, 1 − H(p)/ln K
   * (1 for a one-hot target, 0 for a uniform one). Default false.
   */
  confidenceWeighting?: boolean;
}

/**
 * Teacher targets for unlabeled images (weak view): softmax(logits / T), no
 * gradients, computed on the teacher's device (the arena's) and returned in a
 * host array, which outlives the arena's reset and is B × K floats.
 */
export function teacherTargets(teacher: Model, weak: Tensor, arena: Arena, temperature = 1): Tensor {
  const ctx: ForwardContext = { arena, training: false };
  try {
    const logits = teacher.forward(arena.place(weak), ctx);
    const probs = arena.alloc(logits.shape);
    softmaxForward(logits, probs, temperature);
    return new Tensor(probs.device === 'cpu' ? Float32Array.from(probs.data) : probs.copyToHost(), logits.shape);
  } finally {
    arena.reset();
  }
}

export function confidenceWeights(targets: Tensor): Tensor {
  const [B, K] = targets.shape as [number, number];
  const w = new Tensor(new Float32Array(B), [B]);
  const d = targets.data;
  for (let i = 0; i < B; i++) {
    let h = 0;
    for (let k = 0; k < K; k++) {
      const p = d[i * K + k] as number;
      if (p > 0) h -= p * Math.log(p);
    }
    w.data[i] = 1 - h / Math.log(K);
  }
  return w;
}

/** One step's arithmetic: both terms' gradients accumulated; returns both terms. */
export function distillStep(
  student: Model,
  labeled: { images: Tensor; labels: Tensor },
  unlabeled: { strong: Tensor; targets: Tensor } | null,
  arena: Arena,
  o: DistillOptions = {},
  scale: { labeled?: number; unlabeled?: number } = {},
): { labeled: number; unlabeled: number } {
  const lambda = o.lambda ?? 1;
  const sup = supervisedStep(student, labeled.images, labeled.labels, arena, scale.labeled ?? 1);
  let unsup = 0;
  if (unlabeled && lambda > 0 && unlabeled.strong.shape[0]! > 0) {
    const weights = o.confidenceWeighting ? confidenceWeights(unlabeled.targets) : null;
    try {
      unsup = emdThroughSoftmax(student, unlabeled.strong, unlabeled.targets, { arena, training: true }, lambda * (scale.unlabeled ?? 1), weights);
    } finally {
      arena.reset();
    }
  }
  return { labeled: sup, unlabeled: unsup };
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
  const model = scoreModel(o.encoder, o.train.bins.length, o.seed, o.init, o.device);
  const K = o.train.bins.length;
  const size = o.encoder.imgSize;
  const tSize = o.teacher.config.encoder.imgSize;
  const items = labeledItems(o.train);
  const cache = o.cache ?? null;
  // Each rank decodes its slice of every global batch of both streams.
  const labeled = new ImageLoader(items, { batchSize: o.batchSize, views: [strongView(size)], seed: o.seed, dropLast: true, cache, ...rankBatches(o.runDir) });
  const unlItems: LoaderItem[] = o.unlabeled.map((path) => ({ path }));
  const ub = o.unlabeledBatchSize ?? o.batchSize;
  const unlabeled = unlItems.length > 0 ? new ImageLoader(unlItems, { batchSize: ub, views: [weakView(tSize), strongView(size)], seed: o.seed + 1, dropLast: true, cache, ...rankBatches(o.runDir) }) : null;
  // The frozen teacher runs where it was trained.
  const teacherArena = new Arena('teacher', 1 << 20, o.teacher.device);
  const result = await runPhase({
    ...phaseBase(o, model, items.length),
    async *batches(epoch) {
      // The unlabeled stream restarts (reshuffled) whenever it runs out: after
      // floor(n / batch) batches on every rank, holes and all, so the restart
      // is the same decision everywhere.
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
            const targets = u.size > 0 ? teacherTargets(o.teacher, weak, teacherArena, o.temperature ?? 1) : new Tensor(new Float32Array(0), [0, K]);
            unl = { strong: asBatch(u, 1).images, targets };
          }
        }
        const counts = { labeled: b.size, unlabeled: unl?.strong.shape[0] ?? 0 };
        yield { ...asBatch(b), waitMs, labels: labelTensor(b.distributions ?? new Float64Array(0), b.size, K), unl, counts };
      }
      unlabeled?.prefetchEpoch((epoch + 1) * 1000); // where the next epoch's stream starts
      recordBadFiles(o.runDir, labeled, unlabeled);
    },
    step: (b, arena, scale) => distillStep(model, { images: b.images, labels: b.labels }, b.unl, arena, o, scale),
    ...validator(model, o.val, size, o.threshold ?? 5, o.cache ?? null, o.runDir.comm),
  });
  return { model, result };
}
