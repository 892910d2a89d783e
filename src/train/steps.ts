// One optimisation step's arithmetic for each CSKD phase, on batches already
// in memory. Each function runs forward, loss and backward, leaving gradients
// accumulated in the model's ParameterSet (the caller zeroes them and steps the
// optimizer), and resets the arena when done.
import type { ForwardContext } from '../nn/module.js';
import { type AlignKind, alignLoss, emdLossFromLogits } from '../ops/losses.js';
import { softmaxForward } from '../ops/softmax.js';
import type { Arena } from '../tensor/arena.js';
import { Tensor } from '../tensor/tensor.js';
import type { Model } from './model.js';

// The loss ops throw NonFiniteLossError on NaN/Inf, before any gradient is used.
export { NonFiniteLossError } from '../ops/losses.js';

/** Phase 1: align projected features to the frozen CLIP embeddings [B, D]. */
export function alignStep(model: Model, images: Tensor, clip: Tensor, arena: Arena, o: { loss?: AlignKind; gradScale?: number } = {}): number {
  const ctx: ForwardContext = { arena, training: true };
  try {
    const z = model.forward(images, ctx);
    const dz = arena.alloc(z.shape);
    const loss = alignLoss(z, clip, { kind: o.loss ?? 'cosine', grad: dz, gradScale: o.gradScale ?? 1 });
    model.backward(dz, ctx);
    return loss;
  } finally {
    arena.reset();
  }
}

/** EMD (r = 2) of softmax(logits) to `target` [B, K]; backward scaled by gradScale. */
function emdThroughSoftmax(model: Model, images: Tensor, target: Tensor, ctx: ForwardContext, gradScale: number, weights: Tensor | null): number {
  const logits = model.forward(images, ctx);
  const dlogits = ctx.arena.alloc(logits.shape);
  const loss = emdLossFromLogits(logits, target, { grad: dlogits, gradScale, weights });
  model.backward(dlogits, ctx);
  return loss;
}

/** Phase 2, teacher (and the no-unlabeled baseline): EMD to label distributions. */
export function supervisedStep(model: Model, images: Tensor, labels: Tensor, arena: Arena, gradScale = 1): number {
  try {
    return emdThroughSoftmax(model, images, labels, { arena, training: true }, gradScale, null);
  } finally {
    arena.reset();
  }
}

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

/** Teacher targets for unlabeled images (weak view): softmax(logits / T), no gradients. */
export function teacherTargets(teacher: Model, weak: Tensor, arena: Arena, temperature = 1): Tensor {
  const ctx: ForwardContext = { arena, training: false };
  try {
    const logits = teacher.forward(weak, ctx);
    const out = Tensor.zeros(logits.shape);
    softmaxForward(logits, out, temperature);
    return out;
  } finally {
    arena.reset();
  }
}

export function confidenceWeights(targets: Tensor): Tensor {
  const [B, K] = targets.shape as [number, number];
  const w = Tensor.zeros([B]);
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

/**
 * Phase 2, student: EMD to labels on labeled images plus λ · EMD to the
 * teacher's distribution on unlabeled images (student sees the strong view).
 * Returns both terms.
 */
export function distillStep(
  student: Model,
  labeled: { images: Tensor; labels: Tensor },
  unlabeled: { strong: Tensor; targets: Tensor } | null,
  arena: Arena,
  o: DistillOptions = {},
): { labeled: number; unlabeled: number } {
  const lambda = o.lambda ?? 1;
  const sup = supervisedStep(student, labeled.images, labeled.labels, arena);
  let unsup = 0;
  if (unlabeled && lambda > 0) {
    const weights = o.confidenceWeighting ? confidenceWeights(unlabeled.targets) : null;
    try {
      unsup = emdThroughSoftmax(student, unlabeled.strong, unlabeled.targets, { arena, training: true }, lambda, weights);
    } finally {
      arena.reset();
    }
  }
  return { labeled: sup, unlabeled: unsup };
}
