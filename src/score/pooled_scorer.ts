// The service's scorer: decodes on the main thread's side (sharp works in
// libuv's threads) and runs model calls in a ModelPool of child processes, so
// the JS thread stays free to answer /health, /ready and refusals while the
// model works.
//
// Batching is the Scorer's rule (src/score/scorer.ts), per model process:
// when a process is free, it takes up to maxBatch queued images, at once if
// the batch is full or no image is still decoding (waiting longer would leave
// it idle, not fill the batch). With n processes, n batches run at once.
import { readFile } from 'node:fs/promises';

import { isCheckpoint } from '../model/checkpoint.js';
import { parseOnnxMetadata, type OnnxModelMetadata, type OnnxPreprocessing } from '../onnx/metadata.js';
import { ModelPool } from './model_pool.js';
import { preprocess, type ScoreInput } from './preprocess.js';
import { scoreOf, type Score, type ScorerStats } from './scorer.js';

export interface PooledScorerOptions {
  /** Model processes (default: see defaultPoolSize). */
  processes?: number;
  /** onnxruntime intra-op threads per process (default: see defaultPoolSize). */
  threads?: number;
  /** Most images per model call (default 16). */
  maxBatch?: number;
  /** Refuse images with more pixels than this (default 50 megapixels). */
  maxPixels?: number;
  /** Wait before replacing a dead model process (ms, default 1000). */
  restartDelayMs?: number;
  /** A model call unanswered this long kills and replaces its process (ms, default 30000; see ModelPool). */
  callTimeoutMs?: number;
}

interface Queued {
  chw: Float32Array;
  queuedAt: number;
  resolve: (s: Score) => void;
  reject: (e: Error) => void;
}

/**
 * Processes × threads for `cores`: about one process per 4 cores, each with
 * the cores divided among them. A few wide sessions keep one call's latency
 * low; more than one lets a batch run while the next is assembled.
 */
export function defaultPoolSize(cores: number): { processes: number; threads: number } {
  const processes = Math.max(1, Math.round(cores / 4));
  return { processes, threads: Math.max(1, Math.floor(cores / processes)) };
}

/** Reads an exported model's metadata with the checks Scorer.load makes, without creating a session. */
async function readScoreModel(modelPath: string): Promise<OnnxModelMetadata> {
  let bytes: Buffer;
  try {
    bytes = await readFile(modelPath);
  } catch (e) {
    throw new Error(`cannot read ${modelPath} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  if (isCheckpoint(modelPath)) throw new Error(`${modelPath} is a cskd training checkpoint; serving reads exported ONNX models (export it first, see docs/scoring.md)`);
  const metadata = parseOnnxMetadata(bytes, modelPath);
  if (metadata.task !== 'score' || !metadata.scoreBins) throw new Error(`${modelPath} is an '${metadata.task}' model; scoring needs a model with a score head (task 'score')`);
  if (!metadata.outputNames.includes('distribution')) throw new Error(`${modelPath} has no 'distribution' output (outputs: ${metadata.outputNames.join(', ')})`);
  return metadata;
}

export class PooledScorer {
  readonly modelPath: string;
  readonly metadata: OnnxModelMetadata;
  readonly preprocessing: OnnxPreprocessing;
  readonly bins: readonly number[];
  readonly maxBatch: number;
  readonly maxPixels: number | undefined;
  readonly stats: ScorerStats = { batches: 0, images: 0, modelMs: 0 };
  readonly pool: ModelPool;
  /** Called with each image's wait (s) from decoded to its model call's start. */
  onQueueWait: ((seconds: number) => void) | null = null;
  readonly #queue: Queued[] = [];
  #decoding = 0;
  #released = false;

  private constructor(modelPath: string, metadata: OnnxModelMetadata, pool: ModelPool, options: PooledScorerOptions) {
    this.modelPath = modelPath;
    this.metadata = metadata;
    this.preprocessing = metadata.preprocessing;
    this.bins = metadata.scoreBins as number[];
    this.maxBatch = options.maxBatch ?? 16;
    this.maxPixels = options.maxPixels;
    this.pool = pool;
  }

  /** Checks the model and starts its processes; resolves before they are ready (see whenReady). */
  static async start(modelPath: string, cores: number, options: PooledScorerOptions = {}): Promise<PooledScorer> {
    const size = defaultPoolSize(cores);
    const maxBatch = options.maxBatch ?? 16;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`PooledScorer: maxBatch must be a positive integer, got ${maxBatch}`);
    const metadata = await readScoreModel(modelPath);
    const pool = ModelPool.start(modelPath, {
      processes: options.processes ?? size.processes,
      threads: options.threads ?? size.threads,
      size: metadata.preprocessing.size,
      inputName: metadata.inputNames[0] ?? 'pixel_values',
      ...(options.restartDelayMs !== undefined ? { restartDelayMs: options.restartDelayMs } : {}),
      ...(options.callTimeoutMs !== undefined ? { callTimeoutMs: options.callTimeoutMs } : {}),
    });
    return new PooledScorer(modelPath, metadata, pool, options);
  }

  /** Every model process loaded and warm. */
  get whenReady(): Promise<void> {
    return this.pool.whenReady;
  }

  /** Whether scoring can proceed now (a warm model process, not released), or why not. */
  readiness(): 'ready' | 'loading' | 'model-unavailable' {
    if (this.#released) return 'model-unavailable';
    if (this.pool.ready) return 'ready';
    return this.pool.everReady ? 'model-unavailable' : 'loading';
  }

  /** Scores one image. Throws ImageFileError for a bad image. */
  async score(input: ScoreInput, label?: string): Promise<Score> {
    if (this.#released) throw new Error('scorer: released');
    this.#decoding++;
    let chw: Float32Array;
    try {
      chw = await preprocess(input, this.preprocessing, { ...(this.maxPixels !== undefined ? { maxPixels: this.maxPixels } : {}), ...(label !== undefined ? { label } : {}) });
    } finally {
      this.#decoding--;
    }
    const scored = new Promise<Score>((resolve, reject) => this.#queue.push({ chw, queuedAt: performance.now(), resolve, reject }));
    this.#pump();
    return scored;
  }

  #pump(): void {
    while (this.#queue.length > 0 && this.pool.idle > 0) {
      if (this.#queue.length < this.maxBatch && this.#decoding > 0) {
        // A batch could still fill; the decodes in progress call #pump as they queue. One wait per pass.
        return;
      }
      this.#runBatch(this.#queue.splice(0, Math.min(this.maxBatch, this.#queue.length)));
    }
  }

  #runBatch(take: Queued[]): void {
    const n = 3 * this.preprocessing.size * this.preprocessing.size;
    const pixels = new Float32Array(take.length * n);
    const t0 = performance.now();
    take.forEach((q, i) => {
      pixels.set(q.chw, i * n);
      this.onQueueWait?.((t0 - q.queuedAt) / 1e3);
    });
    const K = this.bins.length;
    this.pool
      .run(pixels, take.length)
      .then((dist) => {
        this.stats.modelMs += performance.now() - t0;
        this.stats.batches++;
        this.stats.images += take.length;
        if (dist.length !== take.length * K) throw new Error(`model returned ${dist.length} probabilities for ${take.length} images of ${K} bins`);
        take.forEach((q, i) => q.resolve(scoreOf(dist.subarray(i * K, (i + 1) * K), this.bins)));
      })
      .catch((e: unknown) => take.forEach((q) => q.reject(e as Error)))
      .finally(() => this.#pump());
  }

  /** Stops the model processes after the calls in progress (queued images fail). */
  async release(timeoutMs?: number): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    for (const q of this.#queue.splice(0)) q.reject(new Error('scorer: released'));
    await this.pool.close(timeoutMs);
  }
}
