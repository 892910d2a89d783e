// Scoring a labeled split with a native model and computing the metrics
// aesthetics models are judged by.
import { type ImageCache, ImageLoader, type LoaderItem } from '../data/loader.js';
import type { LabeledSplit } from '../data/datasets.js';
import type { ViewSpec } from '../data/transforms.js';
import type { Communicator } from '../dist/communicator.js';
import { allgatherJson, rankSlice } from '../dist/data_parallel.js';
import { softmaxForward } from '../ops/softmax.js';
import { Arena } from '../tensor/arena.js';
import { Tensor } from '../tensor/tensor.js';
import type { Model } from '../model/model.js';
import { type ScoreReport, scoreReport } from './metrics.js';

export interface Predictions {
  /** Paths of the images scored, in order. */
  paths: string[];
  /** [n, K] predicted distributions. */
  distributions: Float32Array;
  /** [n] predicted mean scores. */
  means: Float64Array;
  /** Indices into the input items of the images scored (bad files are left out). */
  items: Int32Array;
  /** Bad files: path → what was wrong. */
  skipped: Map<string, string>;
}

/** Distributions and mean scores of a score model over images (one deterministic eval view); with a communicator of several ranks, split between them. */
export async function predict(
  model: Model,
  items: readonly LoaderItem[],
  view: ViewSpec,
  bins: readonly number[],
  opts: { batchSize?: number; cache?: ImageCache | null; comm?: Communicator } = {},
): Promise<Predictions> {
  if (model.config.head.kind !== 'score') throw new TypeError('predict: the model has no score head');
  const K = model.config.head.bins;
  if (bins.length !== K) throw new RangeError(`predict: ${bins.length} bin scores for a ${K}-bin model`);
  const comm = opts.comm;
  if (comm && comm.size > 1) {
    // Each rank scores a contiguous slice; every rank gets all the predictions, in item order.
    const { start, end } = rankSlice(items.length, comm.rank, comm.size);
    const mine = await predict(model, items.slice(start, end), view, bins, { ...opts, comm: undefined });
    const dist = comm.allgather(mine.distributions, 'predictions');
    const idx = comm.allgather(mine.items.map((i) => i + start), 'predicted items');
    const skipped = allgatherJson(comm, [...mine.skipped.entries()], 'predict: bad files').flat();
    return withMeans(items, bins, K, dist.data, idx.data, new Map(skipped));
  }
  const loader = new ImageLoader(items, { batchSize: opts.batchSize ?? 32, views: [view], seed: 0, shuffle: false, cache: opts.cache ?? null });
  const arena = new Arena('predict', 1 << 20, model.device);
  const dists: Float32Array[] = [];
  const idx: number[] = [];
  for await (const b of loader.epoch(0)) {
    const S = view.size;
    const images = arena.place(new Tensor(b.images[0] as Float32Array, [b.size, 3, S, S]));
    const logits = model.forward(images, { arena, training: false });
    const p = arena.alloc(logits.shape);
    softmaxForward(logits, p);
    dists.push(p.device === 'cpu' ? Float32Array.from(p.data) : p.copyToHost());
    idx.push(...b.items);
    arena.reset();
  }
  const n = idx.length;
  const distributions = new Float32Array(n * K);
  let off = 0;
  for (const d of dists) {
    distributions.set(d, off);
    off += d.length;
  }
  const skipped = new Map([...loader.badFiles.entries()].map(([p, e]) => [p, `${e.kind}: ${e.detail}`]));
  return withMeans(items, bins, K, distributions, Int32Array.from(idx), skipped);
}

function withMeans(items: readonly LoaderItem[], bins: readonly number[], K: number, distributions: Float32Array, idx: Int32Array, skipped: Map<string, string>): Predictions {
  const n = idx.length;
  const means = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (let k = 0; k < K; k++) m += (distributions[i * K + k] as number) * (bins[k] as number);
    means[i] = m;
  }
  return { paths: Array.from(idx, (i) => (items[i] as LoaderItem).path), distributions, means, items: idx, skipped };
}

export interface Evaluation {
  split: string;
  report: ScoreReport;
  predictions: Predictions;
  /** Label means of the images scored, aligned with predictions. */
  targets: Float64Array;
}

/** SRCC, PLCC, KRCC, RMSE, MAE, accuracy at `threshold` and mean EMD on a labeled split. */
export async function evaluateSplit(
  model: Model,
  split: LabeledSplit,
  view: ViewSpec,
  opts: { threshold?: number; batchSize?: number; cache?: ImageCache | null; comm?: Communicator } = {},
): Promise<Evaluation> {
  const items: LoaderItem[] = split.samples.map((s) => ({ path: s.path, distribution: s.distribution, mean: s.mean }));
  const predictions = await predict(model, items, view, split.bins, { batchSize: opts.batchSize ?? 32, cache: opts.cache ?? null, ...(opts.comm ? { comm: opts.comm } : {}) });
  const K = split.bins.length;
  const targets = Float64Array.from(predictions.items, (i) => (split.samples[i] as { mean: number }).mean);
  const targetDist = new Float64Array(predictions.items.length * K);
  predictions.items.forEach((i, r) => targetDist.set((split.samples[i] as { distribution: Float64Array }).distribution, r * K));
  const report = scoreReport(predictions.means, targets, {
    threshold: opts.threshold ?? 5,
    predDist: predictions.distributions,
    targetDist,
    bins: K,
  });
  return { split: split.name, report, predictions, targets };
}
