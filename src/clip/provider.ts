// Phase 1's source of frozen-encoder embeddings for `cskd train`: opens the
// configured encoder ('standin' or a CLIP model), fills the feature store for
// the unlabeled pool (resuming a partial one), and serves lookups by path from
// the store's shards without loading them into the JS heap.
import { resolve } from 'node:path';

import type { FeatureLookup } from '../train/cskd.js';
import type { FeatureProvider } from '../train/pipeline.js';
import { encoderView } from './encoder.js';
import { buildFeatureStore } from './feature_store.js';
import { openClipEncoder } from './open.js';

export const clipFeatures: FeatureProvider = async (images, config, runDir) => {
  const encoder = await openClipEncoder(config.clip.model, config.clip.threads > 0 ? { threads: config.clip.threads } : {});
  const log = (message: string) => runDir.log({ event: 'features', message });
  try {
    log(`${encoder.standIn ? 'STAND-IN encoder (not CLIP)' : 'encoder'}: ${encoder.description}`);
    const view = encoderView(encoder.preprocessing);
    const dir = resolve(config.clip.store ?? runDir.file('features'));
    const r = await buildFeatureStore({ dir, encoder, files: images, view, batchSize: config.clip.batchSize });
    log(`feature store ${dir}: ${r.embedded} embedded, ${r.skipped} already there, ${r.failed} failed in ${r.seconds.toFixed(1)} s`);
    runDir.recordSkipped(r.store.bad.map((b) => [b.path, `${b.kind}: ${b.detail}`]));
    const store = r.store;
    const lookup: FeatureLookup = {
      dim: store.dim,
      view,
      get(path) {
        const i = store.indexOf(path);
        return i < 0 ? null : store.read(i);
      },
    };
    return lookup;
  } finally {
    await encoder.close();
  }
};
