// Exponential moving average of a model's parameters (one flat buffer).
import type { ParameterSet } from '../nn/parameters.js';
import { emaUpdate } from '../ops/optim.js';
import { type Device, parseDevice } from '../tensor/device_memory.js';
import { Tensor } from '../tensor/tensor.js';

export class Ema {
  readonly params: ParameterSet;
  readonly decay: number;
  #shadow: Tensor;

  constructor(params: ParameterSet, decay = 0.9998) {
    if (!(decay >= 0 && decay < 1)) throw new RangeError(`Ema: decay must be in [0, 1), got ${decay}`);
    this.params = params;
    this.decay = decay;
    this.#shadow = Tensor.zeros(params.values.shape, params.device).copyFrom(params.values);
  }

  /** The averaged weights, flat like the parameters and on the same device as the shadow. */
  get shadow(): Tensor {
    return this.#shadow;
  }

  /** Moves the shadow weights to `device` (the parameters move with their ParameterSet). */
  to(device: Device | 'cuda'): this {
    this.#shadow = this.#shadow.to(parseDevice(device));
    return this;
  }

  update(): void {
    emaUpdate(this.shadow, this.params.values, this.decay);
  }

  /** Swaps the averaged and the live weights (call again to swap back). */
  swap(): void {
    const live = this.params.values;
    const tmp = Tensor.zeros(live.shape, live.device).copyFrom(live);
    live.copyFrom(this.#shadow);
    this.#shadow.copyFrom(tmp);
  }
}
