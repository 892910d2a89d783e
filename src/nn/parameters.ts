// Every parameter of a model lives in one flat buffer, and every gradient in a
// second one, so the optimizer updates all of them in one native call and
// zeroing gradients, clipping and EMA are single passes. Each Parameter is a
// named, shaped view into both buffers.
//
// The buffers live on one device. to(device) moves both there (the views are
// rebuilt on next use, so layers that read `param.value` at call time follow).
import type { Segment } from '../ops/optim.js';
import { type Device, parseDevice } from '../tensor/device_memory.js';
import { Tensor, numel } from '../tensor/tensor.js';

const ALIGN_FLOATS = 16; // 64 bytes: every view starts on a cache line

export interface ParameterOptions {
  /** Apply weight decay (false for biases, norms, tokens, position embeddings). */
  decay?: boolean;
  /** Depth index for layer-wise lr decay (0 = embeddings, depth + 1 = head). */
  layer?: number;
}

export class Parameter {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
  readonly decay: boolean;
  readonly layer: number;
  readonly #set: ParameterSet;
  #value: Tensor | null = null;
  #grad: Tensor | null = null;
  #placement = -1; // the set's placement the cached views belong to

  constructor(set: ParameterSet, name: string, shape: readonly number[], offset: number, opts: ParameterOptions) {
    this.#set = set;
    this.name = name;
    this.shape = Object.freeze([...shape]);
    this.offset = offset;
    this.size = numel(shape);
    this.decay = opts.decay ?? shape.length >= 2;
    this.layer = opts.layer ?? 0;
  }

  get value(): Tensor {
    this.#follow();
    this.#value ??= this.#view(this.#set.values);
    return this.#value;
  }

  get grad(): Tensor {
    this.#follow();
    this.#grad ??= this.#view(this.#set.grads);
    return this.#grad;
  }

  #follow(): void {
    if (this.#placement === this.#set.placement) return;
    this.#placement = this.#set.placement;
    this.#value = null;
    this.#grad = null;
  }

  #view(flat: Tensor): Tensor {
    return flat.slice(this.offset, this.offset + this.size).reshape(this.shape);
  }
}

export class ParameterSet {
  readonly #params: Parameter[] = [];
  readonly #byName = new Map<string, Parameter>();
  #length = 0;
  #values: Tensor | null = null;
  #grads: Tensor | null = null;
  #device: Device = 'cpu';
  #placement = 0; // bumped by every move, so Parameters drop their old views

  /** Declares a parameter; all declarations come before the first use of values or grads. */
  add(name: string, shape: readonly number[], opts: ParameterOptions = {}): Parameter {
    if (this.#values) throw new Error(`ParameterSet: cannot add '${name}' after the buffers were allocated`);
    if (this.#byName.has(name)) throw new Error(`ParameterSet: duplicate parameter '${name}'`);
    const p = new Parameter(this, name, shape, this.#length, opts);
    this.#length += Math.ceil(p.size / ALIGN_FLOATS) * ALIGN_FLOATS;
    this.#params.push(p);
    this.#byName.set(name, p);
    return p;
  }

  /** The flat value buffer (allocated on first use). */
  get values(): Tensor {
    this.#allocate();
    return this.#values as Tensor;
  }

  /** The flat gradient buffer (allocated on first use). */
  get grads(): Tensor {
    this.#allocate();
    return this.#grads as Tensor;
  }

  #allocate(): void {
    if (this.#values) return;
    this.#values = Tensor.zeros([this.#length], this.#device);
    this.#grads = Tensor.zeros([this.#length], this.#device);
  }

  /** Where the buffers live. */
  get device(): Device {
    return this.#device;
  }

  /** Counts moves (Parameter views compare it to know theirs are stale). */
  get placement(): number {
    return this.#placement;
  }

  /**
   * Moves values and gradients to `device` (a copy; the old buffers are left to
   * the GC). Views taken before the move keep the old memory: take them again.
   */
  to(device: Device | 'cuda'): this {
    const place = parseDevice(device);
    if (place === this.#device) return this;
    if (this.#values && this.#grads) {
      this.#values = this.#values.to(place);
      this.#grads = this.#grads.to(place);
    }
    this.#device = place;
    this.#placement += 1;
    return this;
  }

  get list(): readonly Parameter[] {
    return this.#params;
  }

  /** Number of parameter elements (without alignment padding). */
  get count(): number {
    return this.#params.reduce((s, p) => s + p.size, 0);
  }

  get(name: string): Parameter {
    const p = this.#byName.get(name);
    if (!p) throw new Error(`ParameterSet: no parameter '${name}'`);
    return p;
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  zeroGrad(): void {
    this.grads.fill(0);
  }

  /**
   * One optimizer segment per parameter: lr × layerScale(layer), and the
   * weight decay only where the parameter takes it.
   */
  segments(lr: number, weightDecay: number, layerScale: (layer: number) => number = () => 1): Segment[] {
    return this.#params.map((p) => ({
      start: p.offset,
      length: p.size,
      lr: lr * layerScale(p.layer),
      weightDecay: p.decay ? weightDecay : 0,
    }));
  }
}
