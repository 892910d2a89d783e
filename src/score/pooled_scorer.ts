// The service's scorer: an exported model checked here, scored by a
// ModelPool of child processes that decode and run it (model_pool.ts), so the
// JS thread stays free to answer /health, /ready and refusals while images
// are decoded and scored.
//
// Batching is the Scorer's rule (src/score/scorer.ts), inside each model
// process: when its model is free, it takes up to maxBatch decoded images, at
// once if the batch is full or no image is still decoding. With n processes,
// n batches run at once.
import { readFile } from 'node:fs/promises';

import { isCheckpoint } from '../model/checkpoint.js';
import { parseOnnxMetadata, type OnnxModelMetadata, type OnnxPreprocessing } from '../onnx/metadata.js';
import { ModelPool } from './model_pool.js';
import type { ScoreInput } from './preprocess.js';
import type { Score, ScorerStats } from './scorer.js';

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
  /** A model process holding images that answers nothing this long is killed and replaced (ms, default 30000; see ModelPool). */
  callTimeoutMs?: number;
  /** Nice levels the model processes run below this process (0–19, default 10; see ModelPool). */
  nice?: number;
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
  readonly pool: ModelPool;
  #released = false;

  private constructor(modelPath: string, metadata: OnnxModelMetadata, pool: ModelPool, maxBatch: number) {
    this.modelPath = modelPath;
    this.metadata = metadata;
    this.preprocessing = metadata.preprocessing;
    this.bins = metadata.scoreBins as number[];
    this.maxBatch = maxBatch;
    this.pool = pool;
  }

  /** Checks the model and starts its processes; resolves before they are ready (see whenReady). */
  static async start(modelPath: string, cores: number, options: PooledScorerOptions = {}): Promise<PooledScorer> {
    const size = defaultPoolSize(cores);
    const maxBatch = options.maxBatch ?? 16;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`PooledScorer: maxBatch must be a positive integer, got ${maxBatch}`);
    if (options.maxPixels !== undefined && !(options.maxPixels > 0)) throw new RangeError(`PooledScorer: maxPixels must be positive, got ${options.maxPixels}`);
    const metadata = await readScoreModel(modelPath);
    const pool = ModelPool.start(modelPath, {
      processes: options.processes ?? size.processes,
      threads: options.threads ?? size.threads,
      maxBatch,
      ...(options.maxPixels !== undefined ? { maxPixels: options.maxPixels } : {}),
      ...(options.nice !== undefined ? { nice: options.nice } : {}),
      ...(options.restartDelayMs !== undefined ? { restartDelayMs: options.restartDelayMs } : {}),
      ...(options.callTimeoutMs !== undefined ? { callTimeoutMs: options.callTimeoutMs } : {}),
    });
    return new PooledScorer(modelPath, metadata, pool, maxBatch);
  }

  /** Every model process loaded and warm. */
  get whenReady(): Promise<void> {
    return this.pool.whenReady;
  }

  /** The model processes' counters, summed. */
  get stats(): ScorerStats {
    return this.pool.stats;
  }

  /** Called with each image's wait (s) from decoded to its model call's start. */
  get onQueueWait(): ((seconds: number) => void) | null {
    return this.pool.onQueueWait;
  }

  set onQueueWait(f: ((seconds: number) => void) | null) {
    this.pool.onQueueWait = f;
  }

  /** Whether scoring can proceed now (a warm model process, not released), or why not. */
  readiness(): 'ready' | 'loading' | 'model-unavailable' {
    if (this.#released) return 'model-unavailable';
    if (this.pool.ready) return 'ready';
    return this.pool.everReady ? 'model-unavailable' : 'loading';
  }

  /**
   * Scores one image: its encoded bytes or its path (decoded in a model
   * process, so not a sharp pipeline). Throws ImageFileError for a bad image.
   */
  score(input: ScoreInput, label?: string): Promise<Score> {
    if (this.#released) return Promise.reject(new Error('scorer: released'));
    if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
      return Promise.reject(new TypeError('PooledScorer.score: input must be a path or the bytes of an image file (a sharp pipeline cannot cross to a model process)'));
    }
    return this.pool.score(input, label ?? (typeof input === 'string' ? input : 'buffer'));
  }

  /** Stops the model processes after the images they hold (images not yet sent fail). */
  async release(timeoutMs?: number): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await this.pool.close(timeoutMs);
  }
}
