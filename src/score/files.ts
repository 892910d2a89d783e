// Scoring a collection of files into a result file: what `cskd score` does,
// as a function. Takes this shard's share, skips what the result file already
// holds, scores the rest with Scorer.scoreMany, appends a row per image.
import type { ImageErrorKind } from '../data/errors.js';
import { inShard, type Shard } from './inputs.js';
import { ResultWriter } from './results.js';
import type { Scorer } from './scorer.js';

export interface ScoreFilesOptions {
  /** Result file (.csv or .jsonl). */
  out: string;
  shard?: Shard | null;
  batchSize?: number;
  concurrency?: number;
  /** Score again the images whose rows in `out` hold an error. */
  retryErrors?: boolean;
  /** Called after each image (and once before the first). */
  onProgress?: (p: ScoreFilesProgress) => void;
  /** Stops taking new images; rows already finished are written. */
  signal?: AbortSignal;
}

export interface ScoreFilesProgress {
  /** Images this run has to score. */
  total: number;
  /** Of those, done (scored or failed). */
  done: number;
  errors: number;
  elapsedMs: number;
}

export interface ScoreFilesSummary {
  /** Paths given (after expansion and de-duplication). */
  inputs: number;
  /** Of those, in this shard. */
  inShard: number;
  /** Already in the result file from an earlier run. */
  skipped: number;
  /** Scored by this run, errors included. */
  done: number;
  /** Rows with an error written by this run, by kind. */
  errors: number;
  errorsByKind: Partial<Record<ImageErrorKind, number>>;
  /** Bytes of a torn last row cut off the result file. */
  truncatedBytes: number;
  /** Error rows dropped to be retried. */
  retried: number;
  seconds: number;
  imagesPerSecond: number;
  interrupted: boolean;
}

export async function scoreFiles(scorer: Scorer, paths: readonly string[], options: ScoreFilesOptions): Promise<ScoreFilesSummary> {
  const started = performance.now();
  const shard = options.shard ?? null;
  const unique = [...new Set(paths)];
  const mine = unique.filter((p) => inShard(p, shard));
  const writer = await ResultWriter.open(options.out, scorer.bins, { retryErrors: options.retryErrors ?? false });
  const todo = mine.filter((p) => !writer.resume.finished.has(p));
  const progress: ScoreFilesProgress = { total: todo.length, done: 0, errors: 0, elapsedMs: 0 };
  const errorsByKind: Partial<Record<ImageErrorKind, number>> = {};
  options.onProgress?.({ ...progress });
  try {
    // A lazy source, so an abort stops new images from starting.
    const source = (function* () {
      for (const p of todo) {
        if (options.signal?.aborted) return;
        yield p;
      }
    })();
    for await (const item of scorer.scoreMany(source, {
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    })) {
      if (item.error) {
        progress.errors++;
        errorsByKind[item.error.kind] = (errorsByKind[item.error.kind] ?? 0) + 1;
        await writer.write({ path: item.input, score: null, error: `${item.error.kind}: ${item.error.detail}` });
      } else {
        await writer.write({ path: item.input, score: item.score, error: null });
      }
      progress.done++;
      progress.elapsedMs = performance.now() - started;
      options.onProgress?.({ ...progress });
    }
  } finally {
    await writer.close();
  }
  const seconds = (performance.now() - started) / 1e3;
  const interrupted = options.signal?.aborted === true && progress.done < todo.length;
  return {
    inputs: unique.length,
    inShard: mine.length,
    skipped: mine.length - todo.length,
    done: progress.done,
    errors: progress.errors,
    errorsByKind,
    truncatedBytes: writer.resume.truncatedBytes,
    retried: writer.resume.retried,
    seconds,
    imagesPerSecond: seconds > 0 ? progress.done / seconds : 0,
    interrupted,
  };
}
