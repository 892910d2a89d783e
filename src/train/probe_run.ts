// The transfer probe run on what phase 1 produced (and, through `cskd probe`,
// on any checkpoint, frozen encoder or feature store): features of the
// labeled images, a ridge probe fitted on the train split, SRCC with a
// bootstrap interval on val and test (src/eval/probe.ts).
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { encoderView } from '../clip/encoder.js';
import { type FeatureLookup, FeatureStore, buildFeatureStore, defaultFeatureStoreDir } from '../clip/feature_store.js';
import { openClipEncoder } from '../clip/open.js';
import { type Dataset, type LabeledSplit, findSplit, loadDataset } from '../data/datasets.js';
import type { ImageCache } from '../data/loader.js';
import { evalView } from '../data/transforms.js';
import { encoderFeatures } from '../eval/encoder_features.js';
import { type FeatureMatrix, ridgeProbe } from '../eval/probe.js';
import { isCheckpoint } from '../model/checkpoint.js';
import { loadModel } from '../model/io.js';
import type { Model } from '../model/model.js';
import type { RunDir } from '../run/run_dir.js';

/** The feature sets a run probes, in the order tables show them. */
export type ProbeFeatures = 'frozen' | 'aligned-teacher' | 'aligned-student' | 'init-teacher' | 'init-student';

/** One metrics.jsonl `probe` line. */
export interface ProbeRow {
  features: string;
  split: string;
  srcc: number;
  low: number;
  high: number;
}

/** Where a probe's features come from: stored embeddings by path, or an encoder run on the images. */
export type FeatureSource = { kind: 'lookup'; lookup: FeatureLookup } | { kind: 'model'; model: Pick<Model, 'encoder' | 'params' | 'config'> };

interface SplitRows {
  X: FeatureMatrix;
  y: Float64Array;
}

async function splitFeatures(src: FeatureSource, split: LabeledSplit, cache: ImageCache | null): Promise<SplitRows> {
  const paths = split.samples.map((s) => s.path);
  if (src.kind === 'lookup') {
    const rows: Float32Array[] = [];
    const y: number[] = [];
    split.samples.forEach((s) => {
      const e = src.lookup.get(s.path);
      if (e) {
        rows.push(e);
        y.push(s.mean);
      }
    });
    const d = src.lookup.dim;
    const data = new Float32Array(rows.length * d);
    rows.forEach((r, i) => data.set(r, i * d));
    return { X: { data, n: rows.length, d }, y: Float64Array.from(y) };
  }
  // The view phase 2 shows the encoder.
  const f = await encoderFeatures(src.model, paths, evalView(src.model.config.encoder.imgSize), { cache });
  return { X: f, y: Float64Array.from(f.rows, (i) => (split.samples[i] as { mean: number }).mean) };
}

/** Probes one feature source: fit on `train`, SRCC with a 95% interval on each of `evals`. */
export async function probeSource(name: string, src: FeatureSource, train: LabeledSplit, evals: readonly LabeledSplit[], o: { cache?: ImageCache | null; seed?: number } = {}): Promise<ProbeRow[]> {
  const tr = await splitFeatures(src, train, o.cache ?? null);
  if (tr.X.n < 5) throw new Error(`probe '${name}': only ${tr.X.n} training images have features (need at least 5)`);
  const ev = await Promise.all(evals.map(async (s) => ({ name: s.name, ...(await splitFeatures(src, s, o.cache ?? null)) })));
  const r = ridgeProbe(tr, ev, { seed: o.seed ?? 0 });
  return r.splits.map((s) => ({ features: name, split: s.split, srcc: s.srcc, low: s.low, high: s.high }));
}

/**
 * Probes every source and logs one `probe` line per feature set and split. A
 * source that cannot be probed (too few images with features) is reported
 * through `onSkip` and left out: the probe informs, it does not stop a run.
 */
export async function runProbes(
  runDir: RunDir | null,
  sources: readonly [string, FeatureSource][],
  train: LabeledSplit,
  evals: readonly LabeledSplit[],
  o: { cache?: ImageCache | null; onSkip?(features: string, why: string): void } = {},
): Promise<ProbeRow[]> {
  const rows: ProbeRow[] = [];
  for (const [name, src] of sources) {
    let got: ProbeRow[];
    try {
      got = await probeSource(name, src, train, evals, o);
    } catch (e) {
      o.onSkip?.(name, (e as Error).message);
      continue;
    }
    for (const row of got) {
      rows.push(row);
      runDir?.log({ event: 'probe', ...row });
    }
  }
  return rows;
}

/** The probe table: SRCC [95% interval] per feature set (rows) and split (columns). */
export function formatProbeTable(rows: readonly ProbeRow[]): string {
  if (rows.length === 0) return '(no probe results)';
  const names = [...new Set(rows.map((r) => r.features))];
  const splits = [...new Set(rows.map((r) => r.split))];
  const width = Math.max(8, ...names.map((n) => n.length));
  const cell = (r: ProbeRow | undefined) => (r ? `${r.srcc.toFixed(3)} [${r.low.toFixed(2)}, ${r.high.toFixed(2)}]` : '-');
  const head = `${'features'.padEnd(width)}  ${splits.map((s) => `probe SRCC on ${s}`.padEnd(22)).join('  ')}`;
  const lines = names.map((n) => `${n.padEnd(width)}  ${splits.map((s) => cell(rows.find((r) => r.features === n && r.split === s)).padEnd(22)).join('  ')}`);
  return [head, '-'.repeat(head.length), ...lines].join('\n');
}

/** A store directory holds a header file; everything else is opened as an encoder. */
function isStoreDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory() && existsSync(join(path, 'store.json'));
}

export interface ProbeCommandOptions {
  /** A cskd model or checkpoint (.safetensors), a frozen encoder ('standin', ONNX, CLIP safetensors) or a feature store folder. */
  model: string;
  /** Dataset config. */
  data: string;
  train?: string;
  /** Splits to score on (default: every other split of the dataset). */
  evals?: string[];
  /** Where a frozen encoder's store of the labeled images goes (default: features/<model> beside the dataset config). */
  store?: string;
  log?(message: string): void;
}

/** `cskd probe`: the transfer probe of one model, encoder or store on a dataset's labels. */
export async function probeModel(o: ProbeCommandOptions): Promise<{ rows: ProbeRow[]; dataset: Dataset; source: string }> {
  const dataset = await loadDataset(resolve(o.data));
  const train = findSplit(dataset, o.train ?? 'train', 'the probe fit');
  const evals = (o.evals ?? dataset.splits.map((s) => s.name).filter((n) => n !== train.name)).map((n) => findSplit(dataset, n, 'the probe'));
  if (evals.length === 0) throw new Error(`${o.data}: no split to score the probe on besides '${train.name}' (give --eval)`);
  const labeled = [...new Set([train, ...evals].flatMap((s) => s.samples.map((x) => x.path)))];
  let src: FeatureSource;
  let source: string;
  if (isStoreDir(o.model)) {
    src = { kind: 'lookup', lookup: FeatureStore.open(o.model) };
    source = `feature store ${resolve(o.model)}`;
  } else if (o.model.toLowerCase().endsWith('.safetensors') && existsSync(o.model) && isCheckpoint(o.model)) {
    src = { kind: 'model', model: loadModel(o.model) };
    source = `cskd model ${resolve(o.model)} (pooled encoder features)`;
  } else {
    const encoder = await openClipEncoder(o.model);
    try {
      const dir = o.store ?? defaultFeatureStoreDir(resolve(o.data), o.model);
      const r = await buildFeatureStore({ dir, encoder, files: labeled, view: encoderView(encoder.preprocessing) });
      o.log?.(`feature store ${dir}: ${r.embedded} embedded, ${r.skipped} already there, ${r.failed} failed`);
      src = { kind: 'lookup', lookup: r.store };
      source = `${encoder.standIn ? 'STAND-IN encoder (not CLIP)' : 'frozen encoder'}: ${encoder.description}`;
    } finally {
      await encoder.close();
    }
  }
  return { rows: await probeSource(o.model, src, train, evals), dataset, source };
}
