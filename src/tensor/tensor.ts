// Tensors: a shape, a dtype and a device over a block of native memory.
//
// Two lifetimes. Persistent tensors (parameters, gradients, optimizer state)
// own their block. Arena tensors are views into a per-step arena (activations)
// and carry the arena's generation at allocation: once the arena is reset, the
// view throws instead of reading memory that now belongs to the next step.
//
// Two places. A CPU tensor's elements are a Float32Array (`data`). A device
// tensor's are in device memory behind an opaque handle (device_memory.ts):
// `data` throws for it, and values move only through to(), copyToHost() and
// copyFrom(). Ops pass `storage` to the addon, which runs the kernel of the
// tensors' place.
import { native } from '../native.js';
import { type Device, DeviceBlock, type DeviceView, parseDevice } from './device_memory.js';

export type { Device } from './device_memory.js';
export type DType = 'float32';

export const BYTES_PER_ELEMENT: Record<DType, number> = { float32: 4 };

/** Something that invalidates its views when it is reset (an Arena). */
export interface Generational {
  readonly generation: number;
  readonly name: string;
}

/** What an op hands the addon for a tensor. */
export type Storage = Float32Array | DeviceView;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`invalid shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

function isView(s: Storage): s is DeviceView {
  return !(s instanceof Float32Array);
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType = 'float32';
  readonly device: Device;
  readonly size: number;
  readonly #storage: Storage;
  readonly #owner: Generational | null;
  readonly #generation: number;

  /** Prefer Tensor.zeros / Tensor.from / Arena.alloc. */
  constructor(storage: Storage, shape: readonly number[], owner: Generational | null = null) {
    const n = numel(shape);
    if (storage.length !== n) {
      throw new RangeError(`Tensor: ${storage.length} elements cannot have shape [${shape.join(', ')}]`);
    }
    this.shape = Object.freeze([...shape]);
    this.size = n;
    this.device = isView(storage) ? storage.device : 'cpu';
    this.#storage = storage;
    this.#owner = owner;
    this.#generation = owner ? owner.generation : 0;
  }

  /** A persistent zero-filled tensor: 64-byte aligned host memory, or device memory. */
  static zeros(shape: readonly number[], device: Device | 'cuda' = 'cpu'): Tensor {
    const n = numel(shape);
    const place = parseDevice(device);
    if (place === 'cpu') return new Tensor(new Float32Array(native.allocate(n * 4), 0, n), shape);
    return new Tensor(new DeviceBlock(place, n * 4, true).view(0, n), shape);
  }

  /** A persistent tensor holding a copy of `values`. */
  static from(values: ArrayLike<number>, shape: readonly number[] = [values.length], device: Device | 'cuda' = 'cpu'): Tensor {
    const place = parseDevice(device);
    const host = Tensor.zeros(shape);
    host.data.set(values);
    return place === 'cpu' ? host : host.to(place);
  }

  #check(): void {
    const owner = this.#owner;
    if (owner !== null && owner.generation !== this.#generation) {
      throw new Error(
        `tensor [${this.shape.join(', ')}] from arena '${owner.name}' used after reset ` +
          `(allocated in generation ${this.#generation}, arena is at ${owner.generation})`,
      );
    }
  }

  /**
   * The elements of a CPU tensor. Throws if this is an arena view whose arena
   * has been reset since, and (TypeError) for a device tensor.
   */
  get data(): Float32Array {
    this.#check();
    const s = this.#storage;
    if (isView(s)) {
      throw new TypeError(`tensor [${this.shape.join(', ')}] is on ${this.device}: read it with copyToHost() or to('cpu')`);
    }
    return s;
  }

  /** What ops pass to the addon: the Float32Array, or the device view (generation checked). */
  get storage(): Storage {
    this.#check();
    return this.#storage;
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
    return new Tensor(this.storage, shape, this.#owner);
  }

  /** Rows [start, end) of the first dimension (no copy; same lifetime). */
  slice(start: number, end: number): Tensor {
    const rows = this.shape[0] ?? 0;
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= rows)) {
      throw new RangeError(`slice: [${start}, ${end}) out of range for first dimension ${rows}`);
    }
    const inner = rows === 0 ? 0 : this.size / rows;
    return new Tensor(subrange(this.storage, start * inner, end * inner), [end - start, ...this.shape.slice(1)], this.#owner);
  }

  fill(value: number): this {
    const s = this.storage;
    if (isView(s)) native.deviceFill(s, this.size, value);
    else s.fill(value);
    return this;
  }

  /** Copies `other`'s elements in, from any place to any place (device to device on one device). */
  copyFrom(other: Tensor): this {
    if (other.size !== this.size) throw new RangeError(`copyFrom: ${other.size} elements into ${this.size}`);
    const dst = this.storage;
    const src = other.storage;
    if (!isView(dst) && !isView(src)) {
      dst.set(src);
      return this;
    }
    if (isView(dst) && isView(src) && dst.device !== src.device) {
      // Between two devices through the host (cskd keeps no peer mappings).
      native.deviceCopy(dst, other.copyToHost(), this.size);
      return this;
    }
    native.deviceCopy(dst, src, this.size);
    return this;
  }

  /** The elements in a new host array; for a device tensor this waits for its stream. */
  copyToHost(): Float32Array {
    const s = this.storage;
    if (!isView(s)) return Float32Array.from(s);
    const out = new Float32Array(this.size);
    native.deviceCopy(out, s, this.size);
    return out;
  }

  /** This tensor on `device`: itself when already there, else a persistent copy. */
  to(device: Device | 'cuda'): Tensor {
    const place = parseDevice(device);
    if (place === this.device) return this;
    return Tensor.zeros(this.shape, place).copyFrom(this);
  }

  toArray(): number[] {
    return Array.from(this.device === 'cpu' ? this.data : this.copyToHost());
  }
}

/** Elements [start, end) of a storage (a subarray, or a narrower device view). */
export function subrange(s: Storage, start: number, end = s.length): Storage {
  if (!isView(s)) return s.subarray(start, end);
  return { handle: s.handle, offset: s.offset + start, length: end - start, device: s.device };
}

