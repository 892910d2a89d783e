// Exponential moving average of a model's parameters (one flat buffer).
import type { ParameterSet } from '../nn/parameters.js';
import { emaUpdate } from '../ops/optim.js';
import { Tensor } from '../tensor/tensor.js';

export class Ema {
  readonly params: ParameterSet;
  readonly shadow: Tensor;
  readonly decay: number;

  constructor(params: ParameterSet, decay = 0.9998) {
    if (!(decay >= 0 && decay < 1)) throw new RangeError(`Ema: decay must be in [0, 1), got ${decay}`);
    this.params = params;
    this.decay = decay;
    this.shadow = Tensor.from(params.values.data, params.values.shape);
  }

  update(): void {
    emaUpdate(this.shadow, this.params.values, this.decay);
  }

  /** Swaps the averaged and the live weights (call again to swap back). */
  swap(): void {
    const live = this.params.values.data;
    const avg = this.shadow.data;
    const tmp = Float32Array.from(live);
    live.set(avg);
    avg.set(tmp);
  }
}
