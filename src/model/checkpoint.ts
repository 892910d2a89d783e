// Checkpoints: one safetensors file holding the parameters (by name, so the
// file is readable by any safetensors tool), the optimizer's moments and the
// EMA weights (flat, with the parameter layout recorded to check on load), and
// in the header metadata the model config, step, optimizer settings and RNG
// states. Written atomically: a killed process leaves the previous checkpoint.
//
// The state may live on a device: it is copied to the host to be written and
// copied back after reading, so the file is the same whatever the device and
// a run saved on 'cuda' resumes on the CPU and the other way round.
import { closeSync, openSync } from 'node:fs';

import type { ParameterSet } from '../nn/parameters.js';
import { type TensorData, readSafetensors, readSafetensorsHeader, writeSafetensors } from '../tensor/safetensors.js';
import { Tensor } from '../tensor/tensor.js';

export const CHECKPOINT_FORMAT = 'cskd-checkpoint/1';

/** Whether `path` is a readable safetensors file whose metadata says it is a cskd checkpoint. */
export function isCheckpoint(path: string): boolean {
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r');
    return readSafetensorsHeader(fd, path, () => false).metadata['format'] === CHECKPOINT_FORMAT;
  } catch {
    return false;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** What a checkpoint keeps of an optimizer (src/optim's AdamW is one): flat moments, step count, settings. */
export interface OptimizerState {
  readonly m: Tensor;
  readonly v: Tensor;
  step: number;
  readonly options: object;
}

/** What a checkpoint keeps of an EMA (src/optim's Ema is one): the flat shadow weights. */
export interface EmaState {
  readonly shadow: Tensor;
}

export interface TrainingState {
  params: ParameterSet;
  optimizer?: OptimizerState | null;
  ema?: EmaState | null;
  /** Completed optimizer steps. */
  step: number;
  /** Named RNG states (Rng.state) to restore exactly. */
  rng?: Record<string, number>;
  /** The model config, stored as JSON. */
  config?: unknown;
  /** Anything else the trainer wants back (epoch, best metric…), as JSON. */
  extra?: Record<string, unknown>;
}

function layoutOf(params: ParameterSet): string {
  return params.list.map((p) => `${p.name}:${p.shape.join('x')}@${p.offset}`).join(',');
}

/** A tensor's elements on the host: its own array on the CPU, a copy from a device. */
function onHost(t: Tensor): TensorData {
  return { shape: t.shape, data: t.device === 'cpu' ? t.data : t.copyToHost() };
}

export function saveCheckpoint(path: string, s: TrainingState): void {
  // One copy of the flat buffer from a device, not one per parameter.
  const values = onHost(s.params.values).data;
  const tensors: [string, TensorData][] = s.params.list.map((p) => [`param.${p.name}`, { shape: p.shape, data: values.subarray(p.offset, p.offset + p.size) }]);
  if (s.optimizer) {
    tensors.push(['optimizer.m', onHost(s.optimizer.m)], ['optimizer.v', onHost(s.optimizer.v)]);
  }
  if (s.ema) tensors.push(['ema.shadow', onHost(s.ema.shadow)]);
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    step: String(s.step),
    layout: layoutOf(s.params),
    config: JSON.stringify(s.config ?? null),
    rng: JSON.stringify(s.rng ?? {}),
    extra: JSON.stringify(s.extra ?? {}),
  };
  if (s.optimizer) metadata['optimizer'] = JSON.stringify({ ...s.optimizer.options, step: s.optimizer.step });
  writeSafetensors(path, tensors, metadata);
}

export interface LoadedCheckpoint {
  step: number;
  rng: Record<string, number>;
  config: unknown;
  extra: Record<string, unknown>;
}

/**
 * Restores a checkpoint into existing objects built with the same model
 * config. Throws one error listing every missing or mismatched tensor.
 */
export function loadCheckpoint(path: string, s: Omit<TrainingState, 'step'>): LoadedCheckpoint {
  const file = readSafetensors(path);
  const meta = file.metadata;
  if (meta['format'] !== CHECKPOINT_FORMAT) {
    throw new Error(`${path}: not a cskd checkpoint (format '${meta['format'] ?? 'missing'}', expected '${CHECKPOINT_FORMAT}')`);
  }
  const problems: string[] = [];
  for (const p of s.params.list) {
    const t = file.tensors.get(`param.${p.name}`);
    if (!t) problems.push(`missing ${p.name}`);
    else if (t.shape.join('x') !== p.shape.join('x')) problems.push(`${p.name}: checkpoint [${t.shape.join(', ')}], model [${p.shape.join(', ')}]`);
  }
  const flatNeeded: [string, Tensor][] = [];
  if (s.optimizer) flatNeeded.push(['optimizer.m', s.optimizer.m], ['optimizer.v', s.optimizer.v]);
  if (s.ema) flatNeeded.push(['ema.shadow', s.ema.shadow]);
  if (flatNeeded.length > 0 && meta['layout'] !== layoutOf(s.params)) problems.push('parameter layout differs from the model (optimizer/EMA state cannot be mapped)');
  for (const [name, dst] of flatNeeded) {
    const t = file.tensors.get(name);
    if (!t) problems.push(`missing ${name}`);
    else if (t.data.length !== dst.size) problems.push(`${name}: ${t.data.length} values, model needs ${dst.size}`);
  }
  if (problems.length > 0) throw new Error(`${path}: checkpoint does not match the model:\n  ${problems.join('\n  ')}`);

  // Filled on the host, then one copy into each flat buffer (on whatever device it is).
  const values = onHost(s.params.values).data;
  for (const p of s.params.list) values.set((file.tensors.get(`param.${p.name}`) as { data: Float32Array }).data, p.offset);
  if (s.params.values.device !== 'cpu') s.params.values.copyFrom(new Tensor(values, s.params.values.shape));
  for (const [name, dst] of flatNeeded) {
    const data = (file.tensors.get(name) as { data: Float32Array }).data;
    if (dst.device === 'cpu') dst.data.set(data);
    else dst.copyFrom(new Tensor(data, dst.shape));
  }
  const step = Number(meta['step'] ?? 0);
  if (s.optimizer) {
    const o = JSON.parse(meta['optimizer'] ?? '{}') as { step?: number };
    s.optimizer.step = o.step ?? step;
  }
  return {
    step,
    rng: JSON.parse(meta['rng'] ?? '{}') as Record<string, number>,
    config: JSON.parse(meta['config'] ?? 'null') as unknown,
    extra: JSON.parse(meta['extra'] ?? '{}') as Record<string, unknown>,
  };
}
