// What every module's forward and backward receive.
import type { Arena } from '../tensor/arena.js';
import type { Tensor } from '../tensor/tensor.js';

export interface ForwardContext {
  /** Where activations of this step live; reset by the trainer after backward. */
  arena: Arena;
  /** Keep what backward needs (false for inference: nothing is saved). */
  training: boolean;
  /** When set, attention blocks record per-head statistics here. */
  attentionStats?: AttentionStatsRecorder;
}

export interface AttentionStatsRecorder {
  gridH: number;
  gridW: number;
  patchPx: number;
  prefix: number;
  /** Called once per block with distance and entropy, each [B, H]. */
  record(layer: number, distance: Tensor, entropy: Tensor): void;
}
