// A per-step arena for activations. alloc() bumps an offset through native
// blocks; reset() starts the next step from the beginning and bumps the
// generation, which invalidates every view handed out before. If a step needed
// more than one block, reset() replaces them by one block of the total, so from
// the second step on a training loop allocates nothing and memory stays flat.
//
// An arena lives on one device: on 'cuda:N' its blocks come from the device's
// caching allocator, with the same generation checks on every view.
import { native } from '../native.js';
import { type Device, DeviceBlock, parseDevice } from './device_memory.js';
import { type Generational, Tensor, numel } from './tensor.js';

const ALIGN = 64;

/** One native block: host memory or device memory. */
interface Block {
  readonly byteLength: number;
  tensor(byteOffset: number, shape: readonly number[], owner: Generational): Tensor;
  release(): void;
}

function hostBlock(bytes: number): Block {
  const buf = native.allocate(bytes);
  return {
    byteLength: buf.byteLength,
    tensor: (off, shape, owner) => new Tensor(new Float32Array(buf, off, numel(shape)), shape, owner),
    release: () => native.release(buf),
  };
}

function deviceBlock(device: `cuda:${number}`, bytes: number): Block {
  const b = new DeviceBlock(device, bytes, false);
  return {
    byteLength: bytes,
    tensor: (off, shape, owner) => new Tensor(b.view(off / 4, numel(shape)), shape, owner),
    release: () => b.release(),
  };
}

export class Arena implements Generational {
  readonly name: string;
  readonly device: Device;
  #generation = 0;
  #blocks: Block[] = [];
  #block = 0; // index of the block being filled
  #offset = 0; // bytes used in that block
  #used = 0; // bytes handed out this step (all blocks, with padding)
  #peak = 0;
  #scratch: Arena | null = null;

  constructor(name = 'step', initialBytes = 1 << 20, device: Device | 'cuda' = 'cpu') {
    this.name = name;
    this.device = parseDevice(device);
    this.#blocks.push(this.#newBlock(Math.max(ALIGN, initialBytes)));
  }

  #newBlock(bytes: number): Block {
    return this.device === 'cpu' ? hostBlock(bytes) : deviceBlock(this.device, bytes);
  }

  get generation(): number {
    return this.#generation;
  }

  /** Bytes reserved in native memory. */
  get capacity(): number {
    return this.#blocks.reduce((s, b) => s + b.byteLength, 0);
  }

  /** Most bytes any step has used. */
  get peak(): number {
    return this.#peak;
  }

  /** An uninitialised float32 tensor valid until the next reset(). */
  alloc(shape: readonly number[]): Tensor {
    const n = numel(shape);
    const bytes = Math.ceil((n * 4) / ALIGN) * ALIGN;
    let buf = this.#blocks[this.#block] as Block;
    if (this.#offset + bytes > buf.byteLength) {
      // Next block, or a new one large enough (only while the arena is still growing).
      this.#block += 1;
      this.#offset = 0;
      if (this.#block >= this.#blocks.length || (this.#blocks[this.#block] as Block).byteLength < bytes) {
        this.#blocks.splice(this.#block, 0, this.#newBlock(Math.max(bytes, buf.byteLength)));
      }
      buf = this.#blocks[this.#block] as Block;
    }
    const t = buf.tensor(this.#offset, shape, this);
    this.#offset += bytes;
    this.#used += bytes;
    this.#peak = Math.max(this.#peak, this.#used);
    return t;
  }

  /**
   * `t` on this arena's device: `t` itself when it is already there, else a
   * copy in this arena (valid until the next reset, so a step that moves its
   * inputs allocates nothing new).
   */
  place(t: Tensor): Tensor {
    if (t.device === this.device) return t;
    return this.alloc(t.shape).copyFrom(t);
  }

  /** A zero-filled arena tensor. */
  zeros(shape: readonly number[]): Tensor {
    return this.alloc(shape).fill(0);
  }

  /**
   * A second arena for short-lived temporaries (a layer's backward scratch),
   * reset by whoever knows they are dead, and with this arena.
   */
  get scratch(): Arena {
    this.#scratch ??= new Arena(`${this.name}.scratch`, 1 << 20, this.device);
    return this.#scratch;
  }

  /** Frees every view of this step at once. */
  reset(): void {
    this.#generation += 1;
    this.#scratch?.reset();
    if (this.#blocks.length > 1) {
      // Coalesce: one block as large as this arena has ever needed. The growth
      // blocks are freed now rather than whenever the GC gets to them.
      const size = Math.max(this.#peak, this.capacity);
      for (const b of this.#blocks) b.release();
      this.#blocks = [this.#newBlock(size)];
    }
    this.#block = 0;
    this.#offset = 0;
    this.#used = 0;
  }
}
