// Phase 2a, the teacher (and the no-unlabeled baseline): an encoder (aligned,
// CLIP's own, or from its init) + score head trained with EMD (r = 2) to the
// label distributions.
import type { LabeledSplit } from '../data/datasets.js';
import { ImageLoader } from '../data/loader.js';
import { strongView } from '../data/transforms.js';
import type { Model } from '../model/model.js';
import type { ForwardContext } from '../nn/module.js';
import type { ParameterSet } from '../nn/parameters.js';
import type { VitConfig } from '../nn/vit.js';
import { LossSlot, emdLossFromLogits } from '../ops/losses.js';
import type { Arena } from '../tensor/arena.js';
import { Tensor } from '../tensor/tensor.js';
import { type PhaseResult, runPhase } from './loop.js';
import { type CommonOptions, asBatch, labeledItems, phaseBase, rankBatches, recordBadFiles, scoreModel, validator } from './phase_setup.js';

/**
 * EMD (r = 2) of softmax(logits) to `target` [B, K]; backward scaled by
 * gradScale; on the arena's device (host inputs are copied there).
 */
export function emdThroughSoftmax(model: Model, images: Tensor, target: Tensor, ctx: ForwardContext, gradScale: number, weights: Tensor | null): number {
  const arena = ctx.arena;
  const logits = model.forward(arena.place(images), ctx);
  const dlogits = arena.alloc(logits.shape);
  const slot = new LossSlot('emdLossFromLogits', arena);
  const loss = emdLossFromLogits(logits, arena.place(target), { grad: dlogits, gradScale, weights: weights && arena.place(weights), into: slot.into });
  model.backward(dlogits, ctx);
  return slot.value(loss);
}

/**
 * One step's arithmetic: EMD to label distributions [B, K]. Gradients
 * accumulate into the model's ParameterSet; the arena is reset.
 */
export function supervisedStep(model: Model, images: Tensor, labels: Tensor, arena: Arena, gradScale = 1): number {
  if (images.shape[0] === 0) return 0; // this rank's slice held only bad images
  try {
    return emdThroughSoftmax(model, images, labels, { arena, training: true }, gradScale, null);
  } finally {
    arena.reset();
  }
}

/** Label distributions [B, K] in a host array (not native memory: one per batch; steps copy it to their device). */
export function labelTensor(distributions: Float64Array, B: number, K: number): Tensor {
  return new Tensor(Float32Array.from(distributions), [B, K]);
}

export interface FinetuneOptions extends CommonOptions {
  encoder: VitConfig;
  /** Start from this model's encoder weights (an aligned encoder, CLIP's vision tower); null: from the init. */
  init: { params: ParameterSet } | null;
  train: LabeledSplit;
  val: LabeledSplit | null;
  threshold?: number;
}

/** Phase 2a: EMD to the labels; the best epoch by validation SRCC when there is a validation split. */
export async function finetune(o: FinetuneOptions): Promise<{ model: Model; result: PhaseResult }> {
  const model = scoreModel(o.encoder, o.train.bins.length, o.seed, o.init, o.device);
  const items = labeledItems(o.train);
  const size = o.encoder.imgSize;
  const loader = new ImageLoader(items, { batchSize: o.batchSize, views: [strongView(size)], seed: o.seed, dropLast: true, cache: o.cache ?? null, ...rankBatches(o.runDir) });
  const K = o.train.bins.length;
  const result = await runPhase({
    ...phaseBase(o, model, items.length),
    async *batches(epoch) {
      for await (const b of loader.epoch(epoch)) {
        yield { ...asBatch(b), labels: labelTensor(b.distributions ?? new Float64Array(0), b.size, K), counts: { emd: b.size } };
      }
      recordBadFiles(o.runDir, loader);
    },
    step: (b, arena, scale) => ({ emd: supervisedStep(model, b.images, b.labels, arena, scale['emd']) }),
    ...validator(model, o.val, size, o.threshold ?? 5, o.cache ?? null, o.runDir.comm),
  });
  return { model, result };
}
