// Pooled encoder features of a model over images (eval mode, one fixed view,
// in order): what the transfer probe fits on. Bad files are left out and
// reported by index.
import { type ImageCache, ImageLoader } from '../data/loader.js';
import type { ViewSpec } from '../data/transforms.js';
import type { Model } from '../model/model.js';
import { Arena } from '../tensor/arena.js';
import { Tensor } from '../tensor/tensor.js';
import type { FeatureMatrix } from './probe.js';

export interface EncodedImages extends FeatureMatrix {
  /** Indices into the input paths of the rows, in row order. */
  readonly rows: Int32Array;
}

export async function encoderFeatures(model: Pick<Model, 'encoder' | 'params'>, paths: readonly string[], view: ViewSpec, o: { batchSize?: number; cache?: ImageCache | null } = {}): Promise<EncodedImages> {
  const loader = new ImageLoader(
    paths.map((path) => ({ path })),
    { batchSize: o.batchSize ?? 32, views: [view], seed: 0, shuffle: false, cache: o.cache ?? null },
  );
  const arena = new Arena('encoder-features', 1 << 20, model.params.device);
  const chunks: Float32Array[] = [];
  const rows: number[] = [];
  let d = 0;
  for await (const b of loader.epoch(0)) {
    const S = view.size;
    const host = new Tensor(b.images[0] as Float32Array, [b.size, 3, S, S]);
    let images = host;
    if (arena.device !== 'cpu') {
      images = arena.alloc(host.shape);
      images.copyFrom(host);
    }
    const f = model.encoder.forward(images, { arena, training: false });
    d = f.shape[1] as number;
    chunks.push(f.device === 'cpu' ? Float32Array.from(f.data) : f.copyToHost());
    rows.push(...b.items);
    arena.reset();
  }
  const data = new Float32Array(rows.length * d);
  let off = 0;
  for (const c of chunks) {
    data.set(c, off);
    off += c.length;
  }
  return { data, n: rows.length, d, rows: Int32Array.from(rows) };
}
