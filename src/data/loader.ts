// Decodes ahead of the trainer. Decoding runs on sharp's own thread pool
// (libuv's, UV_THREADPOOL_SIZE = 4 by default) with a bounded window of images
// in flight and decoded-but-unconsumed; measured on the 2-core machines this
// beats worker threads each running sharp (386 vs 292 images/s for 1024×768
// JPEG → 224², see docs/data.md), because libvips already decodes off the JS
// thread and workers only add copies. Batches are assembled in shuffle order
// whatever order decodes finish in, so a run is reproducible from
// (seed, epoch). Bad files are skipped, remembered, counted and listed.
import { writeFile } from 'node:fs/promises';

import { type DecodeOptions, type KnownHeader, type SourceImage, openImage, preResize, renderView } from './decode.js';
import { ImageFileError } from './errors.js';
import { rankSlice } from '../dist/data_parallel.js';
import { Rng } from '../util/rng.js';
import { validateViewSpec, type ViewSpec } from './transforms.js';

export interface LoaderItem {
  path: string;
  /** Probabilities over the dataset's bins (labeled items). */
  distribution?: Float64Array;
  mean?: number;
}

export interface LoaderOptions extends DecodeOptions {
  batchSize: number;
  /** One view for plain training/eval; two (weak, strong) for distillation. */
  views: ViewSpec[];
  seed: number;
  /** Shuffle each epoch by (seed, epoch) (default true). */
  shuffle?: boolean;
  /** Drop a last batch smaller than batchSize (default false: keep it). */
  dropLast?: boolean;
  /** Batches decoded ahead of the consumer (default 2). */
  prefetch?: number;
  /**
   * Images decoding at once (default prefetch × batchSize, at least 4): queued
   * on libuv's pool, which keeps decoding while a training step blocks the JS thread.
   */
  concurrency?: number;
  /**
   * Keep every image in memory after its first decode, pre-resized (see
   * ImageCache); one cache can serve several loaders. Default: none.
   */
  cache?: ImageCache | null;
  /**
   * Global batches (training; docs/distributed.md): batch k is positions
   * [kB, (k+1)B) of the epoch's shuffled order, whatever is bad in it; this
   * loader decodes only `rank`'s slice of each (rankSlice), and a bad image
   * leaves a hole instead of pulling in the next image, so the batches do not
   * depend on which rank met which bad file and N ranks × B/N see what
   * 1 × B sees. A batch may then be smaller than its slice, or empty.
   * Default: none (batches are filled with the next good images).
   */
  globalBatches?: { rank: number; size: number } | null;
}

/**
 * Decoded images kept in memory, pre-resized to a shorter side: later epochs,
 * and other loaders over the same files, skip the file decode. Memory is about
 * 3 · side² · aspect bytes per image.
 */
export class ImageCache {
  readonly #images = new Map<string, SourceImage>();

  constructor(readonly shorterSide: number) {
    if (!Number.isInteger(shorterSide) || shorterSide < 1) throw new RangeError(`ImageCache: shorterSide must be a positive integer, got ${shorterSide}`);
  }

  async open(path: string, options: DecodeOptions): Promise<SourceImage> {
    let src = this.#images.get(path);
    if (!src) {
      src = await preResize(await openImage(path, options), this.shorterSide);
      this.#images.set(path, src);
    }
    return src;
  }

  get size(): number {
    return this.#images.size;
  }
}

export interface Batch {
  epoch: number;
  /** Batch number within the epoch. */
  index: number;
  /** Images in this batch (batchSize, or fewer for a kept last batch). */
  size: number;
  /** One [size, 3, S, S] array per view, in the order of options.views. */
  images: Float32Array[];
  /** [size, K] label distributions, when every item has one. */
  distributions: Float64Array | null;
  /** [size] mean scores, when every item has one. */
  means: Float64Array | null;
  /** Indices into the loader's items. */
  items: Int32Array;
  /** Milliseconds the consumer waited for this batch. */
  waitMs: number;
}

export interface EpochStats {
  epoch: number;
  batches: number;
  images: number;
  /** Bad files met this epoch (including ones known from earlier epochs). */
  skipped: number;
  /** Good images left out by dropLast. */
  dropped: number;
  waitMs: number;
  elapsedMs: number;
}

interface Decoded {
  item: number;
  views: Float32Array[];
}

export class ImageLoader {
  readonly options: Required<Omit<LoaderOptions, 'maxPixels' | 'cache' | 'globalBatches'>> & DecodeOptions & { cache: ImageCache | null; globalBatches: { rank: number; size: number } | null };
  /** Every bad file met so far, by path. */
  readonly badFiles = new Map<string, ImageFileError>();
  /** Stats of the last finished epoch. */
  lastEpoch: EpochStats | null = null;
  readonly #headers = new Map<string, KnownHeader>();
  /** Decodes started and not finished, across epochs. */
  #inFlight = 0;
  /** The running epoch's refill, called as each decode finishes. */
  #pump: (() => void) | null = null;
  /** Decodes the last finished epoch started for the one after it. */
  #warm: { epoch: number; pending: Promise<Decoded | null>[] } | null = null;
  /** Per view, rendered-image buffers whose batch has been assembled, for reuse. */
  readonly #freeViews: Float32Array[][];

  constructor(
    readonly items: readonly LoaderItem[],
    options: LoaderOptions,
  ) {
    // Decodes queue a whole prefetch window deep: a training step blocks the JS
    // thread, and only work already queued on libuv's pool runs meanwhile.
    const prefetch = options.prefetch ?? 2;
    const o = { shuffle: true, dropLast: false, prefetch, concurrency: Math.max(4, prefetch * options.batchSize), cache: null, globalBatches: null, ...options };
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new RangeError(`loader: batchSize must be a positive integer, got ${o.batchSize}`);
    if (o.views.length < 1) throw new RangeError('loader: needs at least one view');
    if (!Number.isInteger(o.prefetch) || o.prefetch < 1) throw new RangeError(`loader: prefetch must be a positive integer, got ${o.prefetch}`);
    if (!Number.isInteger(o.concurrency) || o.concurrency < 1) throw new RangeError(`loader: concurrency must be a positive integer, got ${o.concurrency}`);
    o.views.forEach(validateViewSpec);
    const g = o.globalBatches;
    if (g && !(Number.isInteger(g.size) && g.size >= 1 && Number.isInteger(g.rank) && g.rank >= 0 && g.rank < g.size)) {
      throw new RangeError(`loader: globalBatches rank ${g.rank} is not a rank of ${g.size}`);
    }
    this.options = o;
    this.#freeViews = o.views.map(() => []);
  }

  /** Item order of an epoch: a Fisher–Yates shuffle keyed by (seed, epoch), or identity. */
  order(epoch: number): number[] {
    const idx = this.items.map((_, i) => i);
    return this.options.shuffle ? Rng.for(this.options.seed, epoch, 0x5348, 0x5546).shuffle(idx) : idx;
  }

  /**
   * What this loader decodes of an epoch's order, in order, and with
   * globalBatches the end of each batch in that list (null: batches fill up
   * with the next good images).
   */
  #plan(order: number[]): { items: number[]; ends: number[] | null } {
    const g = this.options.globalBatches;
    if (!g) return { items: order, ends: null };
    const B = this.options.batchSize;
    const batches = this.options.dropLast ? Math.floor(order.length / B) : Math.ceil(order.length / B);
    const items: number[] = [];
    const ends: number[] = [];
    for (let k = 0; k < batches; k++) {
      const start = k * B;
      const size = Math.min(B, order.length - start);
      const { start: a, end: b } = rankSlice(size, g.rank, g.size);
      for (let i = start + a; i < start + b; i++) items.push(order[i]!);
      ends.push(items.length);
    }
    return { items, ends };
  }

  async #decode(item: number, epoch: number): Promise<Decoded | null> {
    const { path } = this.items[item]!;
    if (this.badFiles.has(path)) return null;
    try {
      let src: SourceImage;
      if (this.options.cache) src = await this.options.cache.open(path, this.options);
      else {
        // Later epochs skip parsing the header again (4% of a decode for a 1 MP JPEG).
        src = await openImage(path, this.options, this.#headers.get(path));
        this.#headers.set(path, { format: src.format, width: src.width, height: src.height, size: src.buffer.length });
      }
      // The views are independent (each has its own stream), so they render at
      // once, into buffers reused across batches (fresh ones per image made the
      // garbage collector a visible share of a small model's step).
      const views = await Promise.all(
        this.options.views.map((spec, v) => renderView(src, spec, Rng.for(this.options.seed, epoch, item, v + 1), this.#freeViews[v]!.pop() ?? new Float32Array(3 * spec.size * spec.size))),
      );
      return { item, views };
    } catch (e) {
      if (e instanceof ImageFileError) {
        this.badFiles.set(path, e);
        return null;
      }
      throw e;
    }
  }

  #launch(item: number, epoch: number): Promise<Decoded | null> {
    this.#inFlight++;
    // The bookkeeping runs before the consumer's await resumes, so the window refills at once.
    const p = this.#decode(item, epoch).finally(() => {
      this.#inFlight--;
      this.#pump?.();
    });
    p.catch(() => {}); // a failure surfaces when the consumer reaches it, not as an unhandled rejection
    return p;
  }

  #assemble(epoch: number, index: number, got: Decoded[], waitMs: number): Batch {
    const B = got.length;
    const images = this.options.views.map((spec) => {
      const per = 3 * spec.size * spec.size;
      const out = new Float32Array(B * per);
      return out;
    });
    got.forEach((d, b) =>
      d.views.forEach((v, k) => {
        images[k]!.set(v, b * v.length);
        this.#freeViews[k]!.push(v);
      }),
    );
    const labeled = got.map((d) => this.items[d.item]!);
    let distributions: Float64Array | null = null;
    const first = labeled[0]?.distribution;
    if (first && labeled.every((it) => it.distribution?.length === first.length)) {
      distributions = new Float64Array(B * first.length);
      labeled.forEach((it, b) => distributions!.set(it.distribution!, b * first.length));
    }
    const means = labeled.every((it) => it.mean !== undefined) ? Float64Array.from(labeled, (it) => it.mean!) : null;
    return { epoch, index, size: B, images, distributions, means, items: Int32Array.from(got, (d) => d.item), waitMs };
  }

  /**
   * Starts decoding the first prefetch window of `epoch`, for a consumer that
   * knows which epoch it asks for next but will not finish the current one
   * (a stream restarted at a fixed epoch number); `epoch(e)` adopts them.
   */
  prefetchEpoch(epoch: number): void {
    this.#pump = null; // the abandoned epoch stops refilling its window
    if (this.#warm?.epoch === epoch) return;
    const order = this.#plan(this.order(epoch)).items.slice(0, this.options.prefetch * this.options.batchSize);
    this.#warm = { epoch, pending: order.map((item) => this.#launch(item, epoch)) };
  }

  /** The batches of one epoch, decoded ahead within the prefetch window. */
  async *epoch(epoch: number): AsyncGenerator<Batch, EpochStats> {
    const { batchSize: B, prefetch, concurrency, dropLast } = this.options;
    const { items: order, ends } = this.#plan(this.order(epoch));
    const started = performance.now();
    const pending: (Promise<Decoded | null> | undefined)[] = new Array(order.length);
    let next = 0;
    let consumed = 0;
    // Adopt what the previous epoch started decoding for this one.
    if (this.#warm?.epoch === epoch) for (const p of this.#warm.pending) pending[next++] = p;
    this.#warm = null;
    const warm = { epoch: epoch + 1, pending: [] as Promise<Decoded | null>[] };
    let nextOrder: number[] | null = null;
    // Bound both the decodes running and the results waiting for the consumer.
    const room = (): boolean => this.#inFlight < concurrency && next + warm.pending.length - consumed < prefetch * B + concurrency;
    const pump = (): void => {
      while (next < order.length && room()) pending[next] = this.#launch(order[next++]!, epoch);
      // Past the end of this epoch's order, spare room decodes the next
      // epoch's first images, so its first batch does not wait for a cold start.
      if (next >= order.length) {
        nextOrder ??= this.#plan(this.order(epoch + 1)).items;
        while (warm.pending.length < nextOrder.length && room()) warm.pending.push(this.#launch(nextOrder[warm.pending.length]!, epoch + 1));
      }
    };
    this.#pump = pump;
    const stats: EpochStats = { epoch, batches: 0, images: 0, skipped: 0, dropped: 0, waitMs: 0, elapsedMs: 0 };
    let got: Decoded[] = [];
    let waitStart = performance.now();
    pump();
    if (ends) {
      // Global batches: a batch ends at its planned position, holes and all.
      let k = 0;
      while (k < ends.length && ends[k] === consumed) {
        yield* this.#emit(stats, epoch, [], waitStart);
        waitStart = performance.now();
        k++;
      }
      while (consumed < order.length) {
        if (consumed === next) pending[next] = this.#launch(order[next++]!, epoch);
        const p = pending[consumed]!;
        pending[consumed] = undefined;
        consumed++;
        pump();
        const d = await p;
        if (d === null) stats.skipped++;
        else got.push(d);
        while (k < ends.length && ends[k] === consumed) {
          yield* this.#emit(stats, epoch, got, waitStart);
          got = [];
          waitStart = performance.now();
          k++;
        }
      }
      stats.elapsedMs = performance.now() - started;
      this.lastEpoch = stats;
      this.#pump = null;
      this.#warm = warm;
      return stats;
    }
    while (consumed < order.length) {
      if (consumed === next) pending[next] = this.#launch(order[next++]!, epoch); // defensive: never await a position not started
      const p = pending[consumed]!;
      pending[consumed] = undefined;
      consumed++;
      pump();
      const d = await p;
      if (d === null) {
        stats.skipped++;
        continue;
      }
      got.push(d);
      if (got.length === B) {
        const waitMs = performance.now() - waitStart;
        stats.batches++;
        stats.images += B;
        stats.waitMs += waitMs;
        yield this.#assemble(epoch, stats.batches - 1, got, waitMs);
        got = [];
        waitStart = performance.now();
      }
    }
    if (got.length > 0) {
      if (dropLast) stats.dropped = got.length;
      else {
        const waitMs = performance.now() - waitStart;
        stats.batches++;
        stats.images += got.length;
        stats.waitMs += waitMs;
        yield this.#assemble(epoch, stats.batches - 1, got, waitMs);
      }
    }
    stats.elapsedMs = performance.now() - started;
    this.lastEpoch = stats;
    this.#pump = null;
    this.#warm = warm;
    return stats;
  }

  *#emit(stats: EpochStats, epoch: number, got: Decoded[], waitStart: number): Generator<Batch> {
    const waitMs = performance.now() - waitStart;
    stats.batches++;
    stats.images += got.length;
    stats.waitMs += waitMs;
    yield this.#assemble(epoch, stats.batches - 1, got, waitMs);
  }

  /** Bad files as TSV lines: path, kind, detail. */
  badFileReport(): string {
    return [...this.badFiles.values()].map((e) => `${e.file}\t${e.kind}\t${e.detail.replace(/\s+/g, ' ')}`).join('\n');
  }

  /** Writes the bad-file list (into a run directory), header included, even when empty. */
  async writeBadFiles(file: string): Promise<void> {
    const body = this.badFileReport();
    await writeFile(file, `path\tkind\tdetail\n${body}${body ? '\n' : ''}`);
  }
}
