// The Scorer: an exported score model (ONNX, run by onnxruntime-node on the
// CPU) plus the preprocessing its metadata describes.
//
// Choices:
// - One model call at a time. Images that are decoded while the model runs
//   wait in a queue; when it frees, it takes up to `maxBatch` of them at once.
//   So concurrent `score()` calls (an HTTP server) batch without a timer, and
//   `scoreMany` keeps the model busy while the next images decode.
// - onnxruntime-node runs a session synchronously on the JS thread (after a
//   setImmediate); decoding runs in sharp's threads, so decodes started before
//   a model call continue during it.
// - mean and std are computed in float64 from the distribution, with the bin
//   scores from the metadata: μ = Σ s_k p_k, σ = √(Σ (s_k − μ)² p_k).
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';

import type * as Ort from 'onnxruntime-node';

import { ImageFileError } from '../data/errors.js';
import { isCheckpoint } from '../model/checkpoint.js';
import { parseOnnxMetadata, type OnnxModelMetadata, type OnnxPreprocessing } from '../onnx/metadata.js';
import { preprocess, type ScoreInput } from './preprocess.js';
import { loadOnnxRuntime, onnxRuntime } from '../onnx/runtime.js';

export type { ScoreInput } from './preprocess.js';

export interface ScorerOptions {
  /** onnxruntime intra-op threads (default: the machine's cores). */
  threads?: number;
  /** Only 'cpu' for now (onnxruntime-node's CPU provider). */
  device?: 'cpu';
  /** Most images per model call (default 16). */
  maxBatch?: number;
  /** Refuse images with more pixels than this (default 50 megapixels). */
  maxPixels?: number;
}

/** The score of one image. */
export interface Score {
  /** Mean score Σ_k bins[k] · distribution[k]. */
  mean: number;
  /** Standard deviation of the score under the distribution. */
  std: number;
  /** Probability of each score bin (sums to 1). */
  distribution: number[];
}

/** One result of scoreMany: the input it belongs to, and its score or what was wrong with it. */
export type ScoredItem<T> =
  | { input: T; index: number; score: Score; error: null }
  | { input: T; index: number; score: null; error: ImageFileError };

export interface ScoreManyOptions {
  /** Most images per model call (default: the scorer's maxBatch). */
  batchSize?: number;
  /** Images decoding at once (default: the machine's cores, at least 2). */
  concurrency?: number;
  /** Label for an input in errors (default: the path, or '#index'). */
  label?: (input: unknown, index: number) => string;
}

/** Counters since load, for metrics. */
export interface ScorerStats {
  /** Model calls. */
  batches: number;
  /** Images through the model. */
  images: number;
  /** Wall time inside model calls (ms). */
  modelMs: number;
}

interface Pending {
  chw: Float32Array;
  maxBatch: number;
  /** When it was queued (performance.now()). */
  queuedAt: number;
  resolve: (s: Score) => void;
  reject: (e: Error) => void;
}

const DEFAULT_MAX_BATCH = 16;

function positiveInt(op: string, name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${op}: ${name} must be a positive integer, got ${v}`);
  return v;
}

export class Scorer {
  readonly metadata: OnnxModelMetadata;
  readonly preprocessing: OnnxPreprocessing;
  /** Score of each bin. */
  readonly bins: readonly number[];
  readonly modelPath: string;
  readonly maxBatch: number;
  readonly maxPixels: number | undefined;
  readonly stats: ScorerStats = { batches: 0, images: 0, modelMs: 0 };
  /** Called with each image's wait (s) from decoded and queued to the start of its model call. */
  onQueueWait: ((seconds: number) => void) | null = null;
  readonly #session: Ort.InferenceSession;
  readonly #inputName: string;
  readonly #queue: Pending[] = [];
  #running: Promise<void> | null = null;
  /** Images handed to score()/scoreMany that are not yet decoded and queued. */
  #pending = 0;
  #released = false;

  private constructor(modelPath: string, session: Ort.InferenceSession, metadata: OnnxModelMetadata, options: ScorerOptions) {
    this.modelPath = modelPath;
    this.#session = session;
    this.metadata = metadata;
    this.preprocessing = metadata.preprocessing;
    this.bins = metadata.scoreBins as number[];
    this.maxBatch = positiveInt('Scorer', 'maxBatch', options.maxBatch, DEFAULT_MAX_BATCH);
    this.maxPixels = options.maxPixels;
    this.#inputName = metadata.inputNames[0] ?? 'pixel_values';
  }

  /**
   * Loads an ONNX model exported by cskd (preprocessing and score bins come
   * from its metadata). A cskd checkpoint is refused with how to export it.
   */
  static async load(modelPath: string, options: ScorerOptions = {}): Promise<Scorer> {
    const device = options.device ?? 'cpu';
    if (device !== 'cpu') throw new RangeError(`Scorer.load: device '${String(device)}' is not supported (only 'cpu', onnxruntime-node's CPU provider)`);
    const threads = positiveInt('Scorer.load', 'threads', options.threads, availableParallelism());
    positiveInt('Scorer.load', 'maxBatch', options.maxBatch, DEFAULT_MAX_BATCH);
    if (options.maxPixels !== undefined && !(options.maxPixels > 0)) throw new RangeError(`Scorer.load: maxPixels must be positive, got ${options.maxPixels}`);
    let bytes: Buffer;
    try {
      bytes = await readFile(modelPath);
    } catch (e) {
      throw new Error(`Scorer.load: cannot read ${modelPath} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
    }
    if (isCheckpoint(modelPath)) {
      throw new Error(
        `Scorer.load: ${modelPath} is a cskd training checkpoint; the scorer reads exported ONNX models. ` +
          'Export it first with exportOnnx(path, { encoder, head, preprocessing }) (src/onnx/export.ts).',
      );
    }
    const metadata = parseOnnxMetadata(bytes, modelPath);
    if (metadata.task !== 'score' || !metadata.scoreBins) {
      throw new Error(`Scorer.load: ${modelPath} is an '${metadata.task}' model; scoring needs a model with a score head (task 'score')`);
    }
    if (!metadata.outputNames.includes('distribution')) {
      throw new Error(`Scorer.load: ${modelPath} has no 'distribution' output (outputs: ${metadata.outputNames.join(', ')})`);
    }
    const session = await (await loadOnnxRuntime('Scorer.load')).InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      // Scoring decodes beside every model call, so the cores onnxruntime's idle
      // intra-op threads would spin on belong to the decoders: serving a small
      // model on 2 cores went from 98 to 145 req/s without spinning; the ViT-S
      // score_pipeline was unchanged (BENCHMARKS.md).
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    return new Scorer(modelPath, session, metadata, options);
  }

  /** Floats in one preprocessed image (3 · size · size). */
  get imageLength(): number {
    return 3 * this.preprocessing.size * this.preprocessing.size;
  }

  /**
   * The model's input for one image: normalised CHW float32, written at
   * out[offset ..] when given. Throws ImageFileError for a bad image.
   */
  preprocess(input: ScoreInput, out?: Float32Array, offset = 0, label?: string): Promise<Float32Array> {
    return preprocess(input, this.preprocessing, { ...(this.maxPixels !== undefined ? { maxPixels: this.maxPixels } : {}), ...(label !== undefined ? { label } : {}) }, out, offset);
  }

  /** Scores one image. Throws ImageFileError for a bad image. */
  score(input: ScoreInput, label?: string): Promise<Score> {
    return this.#decodeAndSubmit(input, label, this.maxBatch, null);
  }

  /**
   * Scores `batch` preprocessed images (pixel_values, [batch, 3, size, size]
   * flattened) in one model call.
   */
  async scoreTensor(pixelValues: Float32Array, batch: number): Promise<Score[]> {
    const n = this.imageLength;
    if (!Number.isInteger(batch) || batch < 1 || pixelValues.length !== batch * n) {
      throw new RangeError(`scoreTensor: expected ${batch} × ${n} floats (batch × 3 × ${this.preprocessing.size}²), got ${pixelValues.length}`);
    }
    return this.#run(pixelValues, batch);
  }

  /**
   * Scores every input, yielding one item per input in input order, each
   * tagged with its input. Decodes `concurrency` images at once, batches for
   * the model (up to `batchSize` per call), and pulls from `inputs` only as
   * results are consumed: at most 2·batchSize + concurrency inputs are in
   * flight. A bad image is an item with `error` set; the iteration goes on.
   */
  async *scoreMany<T extends ScoreInput>(inputs: Iterable<T> | AsyncIterable<T>, options: ScoreManyOptions = {}): AsyncGenerator<ScoredItem<T>, void, undefined> {
    const batchSize = positiveInt('scoreMany', 'batchSize', options.batchSize, this.maxBatch);
    const concurrency = positiveInt('scoreMany', 'concurrency', options.concurrency, Math.max(2, availableParallelism()));
    const window = 2 * batchSize + concurrency;
    const iterator = Symbol.asyncIterator in inputs ? (inputs as AsyncIterable<T>)[Symbol.asyncIterator]() : (inputs as Iterable<T>)[Symbol.iterator]();
    const slots = new Semaphore(concurrency);
    const inFlight: Promise<ScoredItem<T>>[] = [];
    let index = 0;
    let exhausted = false;
    let finished = false;
    try {
      for (;;) {
        while (!exhausted && inFlight.length < window) {
          const next = await iterator.next();
          if (next.done) {
            exhausted = true;
            break;
          }
          const label = options.label ? options.label(next.value, index) : typeof next.value === 'string' ? next.value : `#${index}`;
          inFlight.push(this.#scoreItem(next.value, index++, label, slots, batchSize));
        }
        const head = inFlight.shift();
        if (!head) break;
        yield await head;
      }
      finished = true;
    } finally {
      if (!finished) {
        // Stopped early (break, or a fatal error): let started work settle before the caller releases the scorer.
        await Promise.allSettled(inFlight);
        if (!exhausted) await iterator.return?.();
      }
    }
  }

  async #scoreItem<T extends ScoreInput>(input: T, index: number, label: string, slots: Semaphore, batchSize: number): Promise<ScoredItem<T>> {
    try {
      return { input, index, score: await this.#decodeAndSubmit(input, label, batchSize, slots), error: null };
    } catch (e) {
      if (!(e instanceof DecodeFailure)) throw e;
      const cause = e.cause;
      const error = cause instanceof ImageFileError ? cause : new ImageFileError(label, 'unreadable', (cause as Error).message);
      return { input, index, score: null, error };
    }
  }

  /**
   * Decodes (holding a slot of `slots` when given), then queues for the model.
   * From the call until the image is queued it counts as pending, and the
   * model waits for pending images to fill a batch (see #pump).
   */
  async #decodeAndSubmit(input: ScoreInput, label: string | undefined, maxBatch: number, slots: Semaphore | null): Promise<Score> {
    if (this.#released) throw new Error('Scorer: released');
    this.#pending++;
    let chw: Float32Array;
    try {
      await slots?.acquire();
      try {
        chw = await this.preprocess(input, undefined, 0, label);
      } finally {
        slots?.release();
      }
    } catch (e) {
      this.#pending--;
      this.#pump();
      // scoreMany turns decode failures into items; score() rethrows the ImageFileError itself.
      throw slots ? new DecodeFailure(e) : e;
    }
    const result = new Promise<Score>((resolve, reject) => this.#queue.push({ chw, maxBatch, queuedAt: performance.now(), resolve, reject }));
    this.#pending--;
    this.#pump();
    return result;
  }

  /**
   * Runs the model on what is queued, one call at a time: when a batch is
   * full, or when no image is still decoding (waiting longer would leave the
   * CPU idle, not fill the batch).
   */
  #pump(): void {
    if (this.#running || this.#queue.length === 0) return;
    const limit = this.#queue[0]!.maxBatch;
    if (this.#queue.length < limit && this.#pending > 0) return;
    const take = this.#queue.splice(0, Math.min(limit, this.#queue.length));
    const n = this.imageLength;
    const pixels = new Float32Array(take.length * n);
    const t0 = performance.now();
    take.forEach((p, i) => {
      pixels.set(p.chw, i * n);
      this.onQueueWait?.((t0 - p.queuedAt) / 1e3);
    });
    this.#running = this.#run(pixels, take.length)
      .then(
        (scores) => take.forEach((p, i) => p.resolve(scores[i]!)),
        (e: unknown) => take.forEach((p) => p.reject(e as Error)),
      )
      .finally(() => {
        this.#running = null;
        this.#pump();
      });
  }

  async #run(pixels: Float32Array, batch: number): Promise<Score[]> {
    if (this.#released) throw new Error('Scorer: released');
    const s = this.preprocessing.size;
    const t0 = performance.now();
    const out = await this.#session.run({ [this.#inputName]: new (onnxRuntime().Tensor)('float32', pixels, [batch, 3, s, s]) }, ['distribution']);
    this.stats.modelMs += performance.now() - t0;
    this.stats.batches++;
    this.stats.images += batch;
    const dist = (out['distribution'] as Ort.Tensor).data as Float32Array;
    const K = this.bins.length;
    if (dist.length !== batch * K) throw new Error(`Scorer: model returned ${dist.length} probabilities for ${batch} images of ${K} bins`);
    const scores: Score[] = [];
    for (let b = 0; b < batch; b++) scores.push(scoreOf(dist.subarray(b * K, (b + 1) * K), this.bins));
    return scores;
  }

  /** Frees the onnxruntime session after the model call in progress; queued calls fail. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    for (const p of this.#queue.splice(0)) p.reject(new Error('Scorer: released'));
    await this.#running;
    await this.#session.release();
  }
}

/** A decode error inside scoreMany, told apart from model failures (which end the iteration). */
class DecodeFailure extends Error {
  constructor(cause: unknown) {
    super('decode failed', { cause });
  }
}

/** Mean and standard deviation of a score distribution over the bins, in float64. */
export function scoreOf(distribution: ArrayLike<number>, bins: readonly number[]): Score {
  let mean = 0;
  for (let k = 0; k < bins.length; k++) mean += bins[k]! * distribution[k]!;
  let variance = 0;
  for (let k = 0; k < bins.length; k++) variance += (bins[k]! - mean) ** 2 * distribution[k]!;
  return { mean, std: Math.sqrt(Math.max(0, variance)), distribution: Array.from(distribution) };
}

/** A counting semaphore for bounding concurrent decodes. */
export class Semaphore {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(count: number) {
    this.#free = count;
  }
  acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}
