// A per-step arena for activations. alloc() bumps an offset through native
// blocks; reset() starts the next step from the beginning and bumps the
// generation, which invalidates every view handed out before. If a step needed
// more than one block, reset() replaces them by one block of the total, so from
// the second step on a training loop allocates nothing and memory stays flat.
import { native } from '../native.js';
import { type Generational, Tensor, numel } from './tensor.js';

const ALIGN = 64;

export class Arena implements Generational {
  readonly name: string;
  #generation = 0;
  #blocks: ArrayBuffer[] = [];
  #block = 0; // index of the block being filled
  #offset = 0; // bytes used in that block
  #used = 0; // bytes handed out this step (all blocks, with padding)
  #peak = 0;
  #scratch: Arena | null = null;

  constructor(name = 'step', initialBytes = 1 << 20) {
    this.name = name;
    this.#blocks.push(native.allocate(Math.max(ALIGN, initialBytes)));
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
    let buf = this.#blocks[this.#block] as ArrayBuffer;
    if (this.#offset + bytes > buf.byteLength) {
      // Next block, or a new one large enough (only while the arena is still growing).
      this.#block += 1;
      this.#offset = 0;
      if (this.#block >= this.#blocks.length || (this.#blocks[this.#block] as ArrayBuffer).byteLength < bytes) {
        this.#blocks.splice(this.#block, 0, native.allocate(Math.max(bytes, buf.byteLength)));
      }
      buf = this.#blocks[this.#block] as ArrayBuffer;
    }
    const view = new Float32Array(buf, this.#offset, n);
    this.#offset += bytes;
    this.#used += bytes;
    this.#peak = Math.max(this.#peak, this.#used);
    return new Tensor(view, shape, this);
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
    this.#scratch ??= new Arena(`${this.name}.scratch`);
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
      for (const b of this.#blocks) native.release(b);
      this.#blocks = [native.allocate(size)];
    }
    this.#block = 0;
    this.#offset = 0;
    this.#used = 0;
  }
}
