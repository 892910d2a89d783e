// Optimizer kernels over flat buffers: fused AdamW, global gradient norm, EMA.
import { native } from '../native.js';
import { expectSameDevice, expectFinite, shapeString } from '../tensor/check.js';
import type { Tensor } from '../tensor/tensor.js';

/** A contiguous run of the flat parameter buffer with its own lr and weight decay. */
export interface Segment {
  start: number;
  length: number;
  lr: number;
  weightDecay: number;
}

export interface AdamWHyper {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** 1-based step count, for bias correction. */
  step: number;
  /** Multiplies every gradient first (clipping coefficient, 1 / micro-batches). */
  gradScale?: number;
}

/** Packs segments for the native call; build once per optimizer, reuse every step. */
export class SegmentTable {
  readonly start: Float64Array;
  readonly length: Float64Array;
  readonly lr: Float32Array;
  readonly weightDecay: Float32Array;
  readonly total: number;

  constructor(segments: readonly Segment[]) {
    const n = segments.length;
    this.start = new Float64Array(n);
    this.length = new Float64Array(n);
    this.lr = new Float32Array(n);
    this.weightDecay = new Float32Array(n);
    let end = 0;
    segments.forEach((s, i) => {
      if (!Number.isInteger(s.start) || !Number.isInteger(s.length) || s.start < end || s.length < 0) {
        throw new RangeError(`SegmentTable: segment ${i} [${s.start}, +${s.length}) overlaps or is out of order`);
      }
      this.start[i] = s.start;
      this.length[i] = s.length;
      this.lr[i] = s.lr;
      this.weightDecay[i] = s.weightDecay;
      end = s.start + s.length;
    });
    this.total = end;
  }

  /** Sets every segment's lr to base × its multiplier (schedules, layer-wise decay). */
  setLearningRates(base: number, multipliers: ArrayLike<number>): void {
    for (let i = 0; i < this.lr.length; i++) this.lr[i] = base * (multipliers[i] ?? 1);
  }
}

/** One fused AdamW step (PyTorch's semantics, decoupled decay) over every segment. */
export function adamwStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, segments: SegmentTable, h: AdamWHyper): void {
  const op = 'adamwStep';
  expectSameDevice(op, { param, grad, m, v });
  for (const [name, t] of [['grad', grad], ['m', m], ['v', v]] as const) {
    if (t.size !== param.size) throw new RangeError(`${op}: ${name} ${shapeString(t.shape)} does not match param ${shapeString(param.shape)}`);
  }
  if (segments.total > param.size) throw new RangeError(`${op}: segments reach ${segments.total}, param holds ${param.size}`);
  if (!Number.isInteger(h.step) || h.step < 1) throw new RangeError(`${op}: step must be a positive integer, got ${h.step}`);
  const gradScale = h.gradScale ?? 1;
  expectFinite(op, 'gradScale', gradScale);
  native.adamwStep(
    param.storage, grad.storage, m.storage, v.storage, segments.start, segments.length, segments.lr, segments.weightDecay,
    h.beta1 ?? 0.9, h.beta2 ?? 0.999, h.eps ?? 1e-8, h.step, gradScale,
  );
}

/** The L2 norm of a (flat) gradient buffer, accumulated in float64. */
export function gradNorm(grad: Tensor): number {
  expectSameDevice('gradNorm', { grad });
  return Math.sqrt(native.sumOfSquares(grad.storage, grad.size));
}

/**
 * Global gradient-norm clipping as PyTorch's clip_grad_norm_: returns the norm
 * and the coefficient min(1, maxNorm / (norm + 1e-6)) to pass to adamwStep as
 * gradScale (so clipping costs no extra pass over the gradients).
 */
export function clipCoefficient(grad: Tensor, maxNorm: number): { norm: number; coefficient: number } {
  const norm = gradNorm(grad);
  if (!Number.isFinite(norm)) throw new RangeError(`clipCoefficient: gradient norm is ${norm}`);
  return { norm, coefficient: Math.min(1, maxNorm / (norm + 1e-6)) };
}

/** ema = decay · ema + (1 − decay) · param */
export function emaUpdate(ema: Tensor, param: Tensor, decay: number): void {
  const op = 'emaUpdate';
  expectSameDevice(op, { ema, param });
  if (ema.size !== param.size) throw new RangeError(`${op}: ema ${shapeString(ema.shape)} does not match param ${shapeString(param.shape)}`);
  if (!(decay >= 0 && decay <= 1)) throw new RangeError(`${op}: decay must be in [0, 1], got ${decay}`);
  native.emaUpdate(ema.storage, param.storage, ema.size, decay);
}
