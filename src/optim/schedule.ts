// Learning-rate schedules and layer-wise lr decay.

export interface CosineSchedule {
  /** Peak learning rate, reached at the end of warm-up. */
  lr: number;
  totalSteps: number;
  warmupSteps: number;
  /** Floor at the end of the cosine. Default 0. */
  minLr?: number;
}

/** Linear warm-up from 0, then cosine decay to minLr; step is 0-based. */
export function cosineLr(s: CosineSchedule, step: number): number {
  const min = s.minLr ?? 0;
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const t = Math.min(1, (step - s.warmupSteps) / span);
  return min + 0.5 * (s.lr - min) * (1 + Math.cos(Math.PI * t));
}

/**
 * Layer-wise lr decay (BEiT/MAE style): layer l of an encoder with `depth`
 * blocks (0 = embeddings, depth + 1 = head) gets decay^(depth + 1 − l).
 */
export function layerDecayScale(decay: number, depth: number): (layer: number) => number {
  return (layer) => decay ** (depth + 1 - Math.min(layer, depth + 1));
}
