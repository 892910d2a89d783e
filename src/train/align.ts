// Phase 1, feature alignment: an encoder + projector learns to match the
// frozen CLIP embeddings stored for the unlabeled pool,
//   L_fa = mean_i (1 − cos(proj(enc(x_i)), clip(x_i)))   (or MSE / smooth-L1),
// on the same view the embeddings were computed on.
import type { FeatureLookup } from '../clip/feature_store.js';
import { ImageLoader, type LoaderItem } from '../data/loader.js';
import { type ViewSpec, evalView } from '../data/transforms.js';
import { Model } from '../model/model.js';
import type { ForwardContext } from '../nn/module.js';
import type { VitConfig } from '../nn/vit.js';
import { type AlignKind, alignLoss } from '../ops/losses.js';
import type { Arena } from '../tensor/arena.js';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../util/rng.js';
import { type PhaseResult, runPhase } from './loop.js';
import { type CommonOptions, asBatch, phaseBase, recordBadFiles } from './phase_setup.js';

/**
 * One step's arithmetic: forward, alignment loss to `clip` [B, D], backward.
 * Gradients accumulate into the model's ParameterSet; the arena is reset.
 */
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
