// Saving and loading whole models (weights + config) as cskd checkpoints.
import { readSafetensors } from '../tensor/safetensors.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { Model, type ModelConfig } from './model.js';

export function saveModel(path: string, model: Model, extra: Record<string, unknown> = {}): void {
  saveCheckpoint(path, { params: model.params, step: 0, config: model.config, extra });
}

/** A model rebuilt from the config stored in a cskd checkpoint, with its weights. */
export function loadModel(path: string): Model {
  const meta = readSafetensors(path, { select: () => false }).metadata;
  let config: ModelConfig | null;
  try {
    config = JSON.parse(meta['config'] ?? 'null') as ModelConfig | null;
  } catch {
    config = null;
  }
  if (!config || typeof config !== 'object' || !('encoder' in config) || !('head' in config)) {
    throw new Error(`${path}: not a cskd model checkpoint (no model config in its metadata)`);
  }
  const model = new Model(config);
  loadCheckpoint(path, { params: model.params });
  return model;
}
