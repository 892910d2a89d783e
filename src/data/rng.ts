// Seeded PRNG for the data pipeline. Every random choice (shuffles, crops,
// flips, demo degradations) draws from a generator keyed by (seed, epoch,
// index, stream), so a sample's view never depends on decode order, worker
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

/** mulberry32: 32-bit state, period 2^32, plenty for per-sample draws. */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The generator for one sample's draws; `stream` separates e.g. the weak and the strong view. */
  static for(seed: number, epoch: number, index: number, stream = 0): Prng {
    return new Prng(hashSeed(seed, epoch, index, stream));
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

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = Math.max(this.uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i] as T;
      a[i] = a[j] as T;
      a[j] = t;
    }
    return a;
  }
}
