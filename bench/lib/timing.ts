// Both sides timed in this process go through benchmark.js: synchronous calls
// directly, asynchronous ones in its deferred mode.
import Benchmark from 'benchmark';
import type { Prepared } from './types.js';

export interface TimingOptions {
  /** Seconds benchmark.js may spend sampling (its maxTime). */
  maxTime: number;
  /** Fewest samples (its minSamples). */
  minSamples: number;
  /** Seconds of untimed warm-up calls first (at least 2 calls). */
  warmup: number;
}

export interface Timing {
  /** Median of benchmark.js's samples (each the mean ms per call over a cycle). */
  ms: number;
  meanMs: number;
  /** Relative margin of error of the mean, in percent. */
  rme: number;
  samples: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function summary(name: string, bench: Benchmark): Timing {
  // benchmark.js records a throwing fn in bench.error (typed as always present).
  const error = bench.error as Error | undefined;
  if (error) throw error;
  const sample = bench.stats.sample as number[];
  if (sample.length === 0) throw new Error(`${name}: benchmark.js took no samples`);
  return { ms: median(sample) * 1e3, meanMs: bench.stats.mean * 1e3, rme: bench.stats.rme, samples: sample.length };
}

/** Times `fn` (no setup/teardown strings: benchmark.js then calls fn itself, closures intact). */
export function timeSync(name: string, fn: () => void, o: TimingOptions): Timing {
  const t0 = performance.now();
  for (let calls = 0; calls < 2 || performance.now() - t0 < o.warmup * 1e3; calls++) fn();
  const bench = new Benchmark(name, fn, { maxTime: o.maxTime, minSamples: o.minSamples, async: false });
  bench.run({ async: false });
  return summary(name, bench);
}

/** Times an asynchronous `fn`, one call per benchmark.js deferred cycle step. */
export async function timeAsync(name: string, fn: () => Promise<void>, o: TimingOptions): Promise<Timing> {
  const t0 = performance.now();
  for (let calls = 0; calls < 2 || performance.now() - t0 < o.warmup * 1e3; calls++) await fn();
  let failure: unknown = null;
  const bench = new Benchmark(name, {
    defer: true,
    maxTime: o.maxTime,
    minSamples: o.minSamples,
    fn: (deferred: Benchmark.Deferred) => {
      fn().then(
        () => {
          deferred.resolve();
        },
        (e: unknown) => {
          failure ??= e;
          bench.abort();
          deferred.resolve();
        },
      );
    },
  });
  await new Promise<void>((resolve) => {
    bench.on('complete', () => {
      resolve();
    });
    bench.on('abort', () => {
      resolve();
    });
    bench.run({ async: true });
  });
  if (failure !== null) throw failure instanceof Error ? failure : new Error(String(failure));
  return summary(name, bench);
}

/** Times a prepared case with whichever of run / runAsync it has. */
export async function timePrepared(name: string, p: Prepared, o: TimingOptions): Promise<Timing> {
  if (p.run && !p.runAsync) return timeSync(name, p.run, o);
  if (p.runAsync && !p.run) return timeAsync(name, p.runAsync, o);
  throw new Error(`${name}: a prepared case needs exactly one of run and runAsync`);
}
