// The `cskd train` config: one JSON or YAML file for every phase, validated up
// front. Every key has a default; an error names the key, what it must be and
// what it got, and unknown keys are errors (a typo must not be ignored).
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';

import { parse as parseYaml } from 'yaml';

import type { AlignKind } from '../ops/losses.js';
import type { Precision } from '../ops/precision.js';
import type { AlignTargets } from './align_targets.js';

export interface PhaseConfig {
  epochs: number;
  lr: number;
  batchSize: number;
  weightDecay: number;
  warmupEpochs: number;
  layerDecay: number;
  clipNorm: number;
}

export interface TrainConfig {
  seed: number;
  /** Where every phase trains and evaluates: 'cpu', 'cuda' (device 0) or 'cuda:N'. */
  device: string;
  /** GEMMs and attention in float32 or bf16 (a CUDA device only; src/ops/precision.ts). */
  precision: Precision;
  /** Where run directories are created. */
  output: string;
  /** Dataset config (labeled splits and the unlabeled pool), see docs/data.md. */
  data: string;
  splits: { train: string; val: string | null; test: string | null };
  clip: { model: string; store: string | null; batchSize: number; threads: number };
  teacher: { model: string; imgSize: number | null };
  student: { model: string; imgSize: number | null };
  /**
   * Phase 1. targets: what the loss compares to (align_targets.ts). heldOutFraction: the share of the pool
   * held out by path hash (held_out.ts); heldOutPool: an unlabeled source's name to hold out instead.
   * patience: early stopping after this many epochs without a better held-out loss (null: off).
   * probe: ridge probes of the frozen, aligned and initial features on the labels after phase 1.
   */
  align: PhaseConfig & {
    loss: AlignKind;
    skip: boolean;
    projectorHidden: number | null;
    targets: AlignTargets;
    heldOutFraction: number;
    heldOutPool: string | null;
    patience: number | null;
    probe: boolean;
  };
  finetune: PhaseConfig;
  distill: PhaseConfig & { lambda: number; temperature: number; confidenceWeighting: boolean; unlabeledBatchSize: number };
  /** clipFinetune: also fine-tune CLIP's own encoder on the labels (needs clip.model to be CLIP safetensors). */
  baselines: { noAlign: boolean; noUnlabeled: boolean; clipFinetune: boolean };
  /** Keep decoded images in memory at this shorter side (0: decode every epoch). */
  loader: { cacheShorterSide: number };
}

const phase = (epochs: number, lr: number, batchSize: number): PhaseConfig => ({
  epochs,
  lr,
  batchSize,
  weightDecay: 0.05,
  warmupEpochs: 1,
  layerDecay: 1,
  clipNorm: 1,
});

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  seed: 0,
  device: 'cpu',
  precision: 'fp32',
  output: 'runs',
  data: '',
  splits: { train: 'train', val: 'val', test: 'test' },
  clip: { model: 'standin', store: null, batchSize: 16, threads: 0 },
  teacher: { model: 'vit-b16', imgSize: null },
  student: { model: 'vit-s16', imgSize: null },
  align: { ...phase(10, 5e-4, 64), loss: 'cosine', skip: false, projectorHidden: null, targets: 'raw', heldOutFraction: 0.1, heldOutPool: null, patience: null, probe: true },
  finetune: { ...phase(10, 1e-4, 32), layerDecay: 0.75 },
  distill: { ...phase(10, 1e-4, 32), layerDecay: 0.75, lambda: 1, temperature: 1, confidenceWeighting: false, unlabeledBatchSize: 32 },
  baselines: { noAlign: true, noUnlabeled: true, clipFinetune: false },
  loader: { cacheShorterSide: 0 },
};

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid config:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

type Check = (v: unknown) => string | null;

const positiveInt: Check = (v) => (Number.isInteger(v) && (v as number) > 0 ? null : 'a positive integer');
const nonNegativeInt: Check = (v) => (Number.isInteger(v) && (v as number) >= 0 ? null : 'a non-negative integer');
const positive: Check = (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? null : 'a positive number');
const nonNegative: Check = (v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? null : 'a non-negative number');
const unit: Check = (v) => (typeof v === 'number' && v > 0 && v <= 1 ? null : 'a number in (0, 1]');
const bool: Check = (v) => (typeof v === 'boolean' ? null : 'true or false');
const text: Check = (v) => (typeof v === 'string' && v.length > 0 ? null : 'a non-empty string');
const orNull = (c: Check): Check => (v) => (v === null ? null : c(v) === null ? null : `${c(v) as string} or null`);
const device: Check = (v) => (typeof v === 'string' && /^(cpu|cuda(:\d+)?)$/.test(v) ? null : "'cpu', 'cuda' or 'cuda:N'");
const oneOf = (...values: string[]): Check => (v) => (values.includes(v as string) ? null : `one of ${values.map((x) => `'${x}'`).join(', ')}`);

const phaseChecks: Record<keyof PhaseConfig, Check> = {
  epochs: positiveInt,
  lr: positive,
  batchSize: positiveInt,
  weightDecay: nonNegative,
  warmupEpochs: nonNegative,
  layerDecay: unit,
  clipNorm: nonNegative,
};

const SCHEMA: Record<string, Check | Record<string, Check>> = {
  seed: nonNegativeInt,
  device,
  precision: oneOf('fp32', 'bf16'),
  output: text,
  data: text,
  splits: { train: text, val: orNull(text), test: orNull(text) },
  clip: { model: text, store: orNull(text), batchSize: positiveInt, threads: nonNegativeInt },
  teacher: { model: text, imgSize: orNull(positiveInt) },
  student: { model: text, imgSize: orNull(positiveInt) },
  align: {
    ...phaseChecks,
    loss: oneOf('cosine', 'mse', 'smooth-l1'),
    skip: bool,
    projectorHidden: orNull(positiveInt),
    targets: oneOf('raw', 'centred', 'standardised'),
    heldOutFraction: (v) => (typeof v === 'number' && v >= 0 && v < 1 ? null : 'a number in [0, 1)'),
    heldOutPool: orNull(text),
    patience: orNull(positiveInt),
    probe: bool,
  },
  finetune: phaseChecks,
  distill: { ...phaseChecks, lambda: nonNegative, temperature: positive, confidenceWeighting: bool, unlabeledBatchSize: positiveInt },
  baselines: { noAlign: bool, noUnlabeled: bool, clipFinetune: bool },
  loader: { cacheShorterSide: nonNegativeInt },
};

function describe(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

/** Merges `raw` over the defaults and validates every key; throws ConfigError listing all problems. */
export function resolveTrainConfig(raw: unknown, source = 'config', base: TrainConfig = DEFAULT_TRAIN_CONFIG): TrainConfig {
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(source, ['the top level must be a mapping of keys']);
  const out = structuredClone(base) as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    const rule = SCHEMA[key];
    if (!rule) {
      problems.push(`unknown key '${key}' (known: ${Object.keys(SCHEMA).join(', ')})`);
      continue;
    }
    if (typeof rule === 'function') {
      const want = rule(value);
      if (want) problems.push(`'${key}' must be ${want}, got ${describe(value)}`);
      else out[key] = value;
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`'${key}' must be a mapping with keys ${Object.keys(rule).join(', ')}, got ${describe(value)}`);
      continue;
    }
    const section = out[key] as Record<string, unknown>;
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const check = rule[k];
      if (!check) problems.push(`unknown key '${key}.${k}' (known: ${Object.keys(rule).join(', ')})`);
      else {
        const want = check(v);
        if (want) problems.push(`'${key}.${k}' must be ${want}, got ${describe(v)}`);
        else section[k] = v;
      }
    }
  }
  if (out['precision'] === 'bf16' && out['device'] === 'cpu') problems.push("'precision' bf16 needs a CUDA device ('device': 'cuda' or 'cuda:N'); the CPU kernels are float32");
  if (!out['data']) problems.push("'data' must name a dataset config file, got nothing");
  if (problems.length > 0) throw new ConfigError(source, problems);
  return out as unknown as TrainConfig;
}

/** Reads a JSON (.json) or YAML (.yaml/.yml) config file and resolves it. */
export function loadTrainConfig(path: string): TrainConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(path, [`cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = ['.yaml', '.yml'].includes(extname(path).toLowerCase()) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new ConfigError(path, [`not valid ${extname(path).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${(e as Error).message}`]);
  }
  return resolveTrainConfig(raw, path);
}
