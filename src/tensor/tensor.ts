// Tensors: a shape, a dtype and a device over a block of native memory.
//
// Two lifetimes. Persistent tensors (parameters, gradients, optimizer state)
// own their block. Arena tensors are views into a per-step arena (activations)
// and carry the arena's generation at allocation: once the arena is reset, the
// view throws instead of reading memory that now belongs to the next step.
import { native } from '../native.js';

export type DType = 'float32';
export type Device = 'cpu' | 'cuda';

export const BYTES_PER_ELEMENT: Record<DType, number> = { float32: 4 };

/** Something that invalidates its views when it is reset (an Arena). */
export interface Generational {
  readonly generation: number;
  readonly name: string;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`invalid shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType = 'float32';
  readonly device: Device = 'cpu';
  readonly size: number;
  readonly #data: Float32Array;
  readonly #owner: Generational | null;
  readonly #generation: number;

  /** Prefer Tensor.zeros / Tensor.from / Arena.alloc. */
  constructor(data: Float32Array, shape: readonly number[], owner: Generational | null = null) {
    const n = numel(shape);
    if (data.length !== n) {
      throw new RangeError(`Tensor: ${data.length} elements cannot have shape [${shape.join(', ')}]`);
    }
    this.shape = Object.freeze([...shape]);
    this.size = n;
    this.#data = data;
    this.#owner = owner;
    this.#generation = owner ? owner.generation : 0;
  }

  /** A persistent zero-filled tensor in 64-byte aligned native memory. */
  static zeros(shape: readonly number[]): Tensor {
    const n = numel(shape);
    return new Tensor(new Float32Array(native.allocate(n * 4), 0, n), shape);
  }

  /** A persistent tensor holding a copy of `values`. */
  static from(values: ArrayLike<number>, shape: readonly number[] = [values.length]): Tensor {
    const t = Tensor.zeros(shape);
    t.data.set(values);
    return t;
  }

  /** The elements. Throws if this is an arena view whose arena has been reset since. */
  get data(): Float32Array {
    const owner = this.#owner;
    if (owner !== null && owner.generation !== this.#generation) {
      throw new Error(
        `tensor [${this.shape.join(', ')}] from arena '${owner.name}' used after reset ` +
          `(allocated in generation ${this.#generation}, arena is at ${owner.generation})`,
      );
    }
    return this.#data;
  }

  /** Whether the memory behind this tensor is still valid. */
  get alive(): boolean {
    return this.#owner === null || this.#owner.generation === this.#generation;
  }

  /** The same elements under another shape (no copy; same lifetime). */
  reshape(shape: readonly number[]): Tensor {
    if (numel(shape) !== this.size) {
      throw new RangeError(`reshape: [${this.shape.join(', ')}] has ${this.size} elements, [${shape.join(', ')}] needs ${numel(shape)}`);
    }
    return new Tensor(this.data, shape, this.#owner);
  }

  /** Rows [start, end) of the first dimension (no copy; same lifetime). */
  slice(start: number, end: number): Tensor {
    const rows = this.shape[0] ?? 0;
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= rows)) {
      throw new RangeError(`slice: [${start}, ${end}) out of range for first dimension ${rows}`);
    }
    const inner = rows === 0 ? 0 : this.size / rows;
    return new Tensor(this.data.subarray(start * inner, end * inner), [end - start, ...this.shape.slice(1)], this.#owner);
  }

  fill(value: number): this {
    this.data.fill(value);
    return this;
  }

  copyFrom(other: Tensor): this {
    if (other.size !== this.size) throw new RangeError(`copyFrom: ${other.size} elements into ${this.size}`);
    this.data.set(other.data);
    return this;
  }

  toArray(): number[] {
    return Array.from(this.data);
  }
}
