// AdamW over a model's flat parameter buffer: one fused native call per step,
// per-parameter segments carrying layer-wise lr and the no-decay mask.
import type { ParameterSet } from '../nn/parameters.js';
import { SegmentTable, adamwStep, gradNorm } from '../ops/optim.js';
import { type Device, parseDevice } from '../tensor/device_memory.js';
import { Tensor } from '../tensor/tensor.js';
import { NonFiniteError } from '../util/errors.js';

export interface AdamWOptions {
  lr: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Layer-wise lr multiplier by parameter layer (see layerDecayScale). Default 1. */
  layerScale?: (layer: number) => number;
  /** Global gradient-norm clipping threshold; 0 or undefined disables it. */
  clipNorm?: number;
}

export interface StepReport {
  lr: number;
  gradNorm: number;
  clipCoefficient: number;
}

export class AdamW {
  readonly params: ParameterSet;
  #m: Tensor;
  #v: Tensor;
  readonly options: Required<Omit<AdamWOptions, 'layerScale' | 'clipNorm'>> & { clipNorm: number };
  /** Completed steps (the next step is step + 1 for bias correction). */
  step = 0;
  readonly #table: SegmentTable;
  readonly #multipliers: Float64Array;

  constructor(params: ParameterSet, o: AdamWOptions) {
    this.params = params;
    this.options = {
      lr: o.lr,
      weightDecay: o.weightDecay ?? 0.05,
      beta1: o.beta1 ?? 0.9,
      beta2: o.beta2 ?? 0.999,
      eps: o.eps ?? 1e-8,
      clipNorm: o.clipNorm ?? 0,
    };
    const scale = o.layerScale ?? (() => 1);
    this.#table = new SegmentTable(params.segments(1, this.options.weightDecay, scale));
    // segments(1, …) put each segment's multiplier into lr; keep them for setLr.
    this.#multipliers = Float64Array.from(this.#table.lr);
    this.#m = Tensor.zeros(params.values.shape, params.device);
    this.#v = Tensor.zeros(params.values.shape, params.device);
  }

  /** First and second moments, flat like the parameters and on their device. */
  get m(): Tensor {
    return this.#m;
  }

  get v(): Tensor {
    return this.#v;
  }

  /** Moves the parameters (values, gradients) and both moments to `device`. */
  to(device: Device | 'cuda'): this {
    const place = parseDevice(device);
    this.params.to(place);
    this.#m = this.#m.to(place);
    this.#v = this.#v.to(place);
    return this;
  }

  /**
   * One update from the accumulated gradients at learning rate `lr`.
   * gradScale multiplies the gradients first (e.g. 1 / micro-batches); clipping
   * applies to the scaled gradient. A non-finite gradient throws
   * NonFiniteError and leaves the parameters untouched, whether or not
   * clipping is on: the norm's one sum-of-squares pass is the check (any NaN
   * or Inf element makes it non-finite), so it costs no second pass. On a
   * device, reading that norm back is the step's one synchronisation.
   */
  update(lr: number, gradScale = 1): StepReport {
    const grads = this.params.grads;
    const raw = gradNorm(grads);
    const norm = raw * gradScale;
    if (!Number.isFinite(raw)) throw new NonFiniteError('gradient', norm, `AdamW: gradient norm is ${norm}`);
    let coefficient = gradScale;
    if (this.options.clipNorm > 0) coefficient = gradScale * Math.min(1, this.options.clipNorm / gradScale / (raw + 1e-6));
    this.#table.setLearningRates(lr, this.#multipliers);
    adamwStep(this.params.values, grads, this.m, this.v, this.#table, {
      step: this.step + 1,
      beta1: this.options.beta1,
      beta2: this.options.beta2,
      eps: this.options.eps,
      gradScale: coefficient,
    });
    this.step += 1;
    return { lr, gradNorm: norm, clipCoefficient: coefficient / gradScale };
  }
}
