// Phase 1's source of frozen-encoder embeddings for `cskd train`: opens the
// configured encoder ('standin' or a CLIP model), fills the feature store for
// the unlabeled pool (resuming a partial one) at the same default place
// `cskd features` uses, and serves lookups by path from the store's shards
// without loading them into the JS heap.
import { encoderView } from '../clip/encoder.js';
import { type FeatureLookup, buildFeatureStore, defaultFeatureStoreDir } from '../clip/feature_store.js';
import { openClipEncoder } from '../clip/open.js';
import type { RunDir } from '../run/run_dir.js';
import type { TrainConfig } from './config.js';

/**
 * Computes (or opens) the frozen-encoder feature store for these images.
 * `where` says where the default store sits; providers that keep their own
 * store may ignore it.
 */
export type FeatureProvider = (images: readonly string[], config: TrainConfig, runDir: RunDir, where: FeatureStorePlace) => Promise<FeatureLookup>;

export interface FeatureStorePlace {
  /** The dataset config the pool came from (absolute): the default store sits beside it. */
  dataPath: string;
  /** clip.store resolved against the config's directory, or null for the default place. */
  storeDir: string | null;
}

export const clipFeatures: FeatureProvider = async (images, config, runDir, { dataPath, storeDir }) => {
  const encoder = await openClipEncoder(config.clip.model, config.clip.threads > 0 ? { threads: config.clip.threads } : {});
  const log = (message: string) => runDir.log({ event: 'features', message });
  try {
    log(`${encoder.standIn ? 'STAND-IN encoder (not CLIP)' : 'encoder'}: ${encoder.description}`);
    const view = encoderView(encoder.preprocessing);
    const dir = storeDir ?? defaultFeatureStoreDir(dataPath, config.clip.model);
    // Under several ranks each embeds its share of the shards into the one store.
    const r = await buildFeatureStore({ dir, encoder, files: images, view, batchSize: config.clip.batchSize, comm: runDir.comm });
    log(`feature store ${dir}: ${r.embedded} embedded, ${r.skipped} already there, ${r.failed} failed in ${r.seconds.toFixed(1)} s`);
    runDir.recordSkipped(r.store.bad.map((b) => [b.path, `${b.kind}: ${b.detail}`]));
    return r.store;
  } finally {
    await encoder.close();
  }
};
