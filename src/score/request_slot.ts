// Admission for the scoring service: a request holds a Slot of the queue for
// its images from before its body is read until its work ends. A slot is
// given back exactly once, by whichever comes first of the ways a request
// ends (answered, timed out, aborted by the client, failed, shut down), so no
// path can leak one and later calls of release() do nothing.

export class AdmissionQueue {
  readonly capacity: number;
  #depth = 0;
  /** Slots given back, counted once each (tests check depth against it). */
  releases = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Images admitted and not finished. */
  get depth(): number {
    return this.#depth;
  }

  get full(): boolean {
    return this.#depth >= this.capacity;
  }

  /** A slot of n images, or null when they do not fit. */
  tryAcquire(n: number): Slot | null {
    if (this.#depth + n > this.capacity) return null;
    this.#depth += n;
    return new Slot(this, n);
  }

  /** @internal Slot's side of the accounting. */
  adjust(by: number): void {
    this.#depth += by;
  }
}

export class Slot {
  readonly #queue: AdmissionQueue;
  #held: number;
  #released = false;

  constructor(queue: AdmissionQueue, held: number) {
    this.#queue = queue;
    this.#held = held;
  }

  get held(): number {
    return this.#released ? 0 : this.#held;
  }

  get released(): boolean {
    return this.#released;
  }

  /** Holds `total` images instead (a batch, once its item count is known); false when they do not fit. */
  resize(total: number): boolean {
    if (this.#released) return false;
    const extra = total - this.#held;
    if (this.#queue.depth + extra > this.#queue.capacity) return false;
    this.#queue.adjust(extra);
    this.#held = total;
    return true;
  }

  /** Gives the images back; only the first call counts. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#queue.adjust(-this.#held);
    this.#queue.releases++;
  }
}
