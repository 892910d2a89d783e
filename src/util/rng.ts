// The one seeded PRNG of the project (mulberry32): its whole state is one
// 32-bit integer, so a checkpoint can store it and a resumed run draws the
// same numbers. Data-pipeline draws come from Rng.for(seed, epoch, index,
// stream), so a sample's view never depends on decode order, worker
// scheduling or how many batches were prefetched.

/** splitmix32 finaliser: a bijective 32-bit mix with good avalanche. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** Hashes integer keys (each reduced mod 2^32) into one 32-bit seed. */
export function hashSeed(...keys: number[]): number {
  let h = 0x2545f491;
  for (const k of keys) h = mix32((h ^ (k >>> 0)) >>> 0);
  return h;
}

export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The generator for one sample's draws; `stream` separates e.g. the weak and the strong view. */
  static for(seed: number, epoch: number, index: number, stream = 0): Rng {
    return new Rng(hashSeed(seed, epoch, index, stream));
  }

  get state(): number {
    return this.#state;
  }

  set state(s: number) {
    this.#state = s >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = Math.max(this.uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }

  /** Normal truncated to [-2σ, 2σ] by redrawing, as timm's trunc_normal_(std) does. */
  truncNormal(std: number): number {
    for (;;) {
      const z = this.normal();
      if (Math.abs(z) <= 2) return z * std;
    }
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i] as T;
      items[i] = items[j] as T;
      items[j] = t;
    }
    return items;
  }
}
