// `cskd train`: every phase from one config, into one run directory.
//   1. phase 1 for the teacher's and the student's encoder (cached CLIP features)
//   2. the teacher: aligned encoder + score head on the labels
//   3. the student: aligned encoder, labels + the teacher on unlabeled images
//   4. the baselines the method is judged against (no alignment, no unlabeled data)
//   5. every model scored on the test split; the student exported (safetensors, ONNX)
import { dirname, resolve } from 'node:path';

import { type Dataset, type LabeledSplit, loadDataset } from '../data/datasets.js';
import { ImageCache } from '../data/loader.js';
import { evalView } from '../data/transforms.js';
import { type Evaluation, evaluateSplit } from '../eval/evaluate.js';
import { savePredictions, writeRunReport } from '../eval/report.js';
import type { ScoreReport } from '../eval/metrics.js';
import { vitConfig } from '../nn/registry.js';
import type { VitConfig } from '../nn/vit.js';
import { exportOnnx } from '../onnx/export.js';
import type { TrainConfig, PhaseConfig } from './config.js';
import { type FeatureLookup, alignEncoder, distill, finetune } from './cskd.js';
import type { Model } from './model.js';
import type { PhaseSettings, TrainEvent } from './phase.js';
import { saveModel } from './model_io.js';
import { RunDir } from './run_dir.js';

/** Computes (or opens) the frozen-CLIP feature store for these images. */
export type FeatureProvider = (images: readonly string[], config: TrainConfig, runDir: RunDir) => Promise<FeatureLookup>;

export interface TrainOptions {
  /** Run directory; default: a new one under config.output. */
  runDir?: RunDir;
  /** Base directory for relative paths in the config (default: the cwd). */
  baseDir?: string;
  features: FeatureProvider;
  /** Write report.html into the run directory at the end (default true). */
  report?: boolean;
  onEvent?(e: TrainEvent | { type: 'log'; message: string }): void;
}

export interface ResultRow {
  name: string;
  report: ScoreReport;
}

export interface TrainResult {
  runDir: RunDir;
  /** Test-split metrics of every model trained, in table order. */
  rows: ResultRow[];
  student: Model;
  teacher: Model;
}

function settings(p: PhaseConfig): PhaseSettings {
  return {
    epochs: p.epochs,
    lr: p.lr,
    weightDecay: p.weightDecay,
    warmupEpochs: p.warmupEpochs,
    layerDecay: p.layerDecay,
    clipNorm: p.clipNorm,
  };
}

function findSplit(ds: Dataset, name: string | null, role: string): LabeledSplit | null {
  if (name === null) return null;
  const s = ds.splits.find((x) => x.name === name);
  if (!s) throw new Error(`dataset '${ds.name}' has no split '${name}' (for ${role}); it has: ${ds.splits.map((x) => x.name).join(', ') || 'none'}`);
  if (s.samples.length === 0) throw new Error(`split '${name}' of dataset '${ds.name}' has no usable samples`);
  return s;
}

function encoderConfig(model: string, imgSize: number | null): VitConfig {
  return vitConfig(model, imgSize ? { imgSize } : {});
}

export async function train(config: TrainConfig, o: TrainOptions): Promise<TrainResult> {
  const base = o.baseDir ?? process.cwd();
  const log = (message: string) => o.onEvent?.({ type: 'log', message });
  const runDir = o.runDir ?? RunDir.create(resolve(base, config.output), 'train');
  runDir.writeConfig(config);
  const ds = await loadDataset(resolve(base, config.data));
  for (const issue of ds.issues) log(`data: ${issue.file}:${issue.line}: ${issue.message}`);
  const trainSplit = findSplit(ds, config.splits.train, 'training') as LabeledSplit;
  const val = findSplit(ds, config.splits.val, 'validation');
  const test = findSplit(ds, config.splits.test, 'testing');
  for (const s of [trainSplit, val, test]) if (s && s.issues.length > 0) log(`data: split '${s.name}' has ${s.issues.length} label problems (first: ${s.issues[0]?.file}:${s.issues[0]?.line}: ${s.issues[0]?.message})`);
  const pool = [...new Set(ds.unlabeled.flatMap((s) => s.files))];
  log(`data: ${trainSplit.samples.length} labeled training images, ${pool.length} unlabeled images from ${ds.unlabeled.length} sources`);

  const cache = config.loader.cacheShorterSide > 0 ? new ImageCache(config.loader.cacheShorterSide) : null;
  const T = encoderConfig(config.teacher.model, config.teacher.imgSize);
  const S = encoderConfig(config.student.model, config.student.imgSize);
  const common = (name: string, batchSize: number, p: PhaseConfig, seedOffset: number) => ({
    name,
    runDir,
    seed: config.seed * 1000 + seedOffset,
    batchSize,
    settings: settings(p),
    cache,
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
  });
  const threshold = ds.threshold;

  let alignedT: Model | null = null;
  let alignedS: Model | null = null;
  if (!config.align.skip && pool.length > 0) {
    const features = await o.features(pool, config, runDir);
    const a = config.align;
    const hidden = a.projectorHidden ? { projectorHidden: a.projectorHidden } : {};
    alignedT = (await alignEncoder({ ...common('align-teacher', a.batchSize, a, 1), encoder: T, images: pool, features, loss: a.loss, ...hidden })).model;
    alignedS = (await alignEncoder({ ...common('align-student', a.batchSize, a, 2), encoder: S, images: pool, features, loss: a.loss, ...hidden })).model;
  }
  const f = config.finetune;
  const teacher = (await finetune({ ...common('teacher', f.batchSize, f, 3), encoder: T, init: alignedT, train: trainSplit, val, threshold })).model;
  const d = config.distill;
  const distillCommon = {
    encoder: S,
    teacher,
    train: trainSplit,
    val,
    threshold,
    lambda: d.lambda,
    temperature: d.temperature,
    confidenceWeighting: d.confidenceWeighting,
    unlabeledBatchSize: d.unlabeledBatchSize,
  };
  const student = (await distill({ ...common('student', d.batchSize, d, 4), ...distillCommon, init: alignedS, unlabeled: pool })).model;
  const rows: [string, Model][] = [['student (aligned + unlabeled)', student]];
  if (config.baselines.noAlign && alignedS) {
    rows.push(['student without alignment', (await distill({ ...common('student-no-align', d.batchSize, d, 5), ...distillCommon, init: null, unlabeled: pool })).model]);
  }
  if (config.baselines.noUnlabeled) {
    rows.push(['student without unlabeled data', (await distill({ ...common('student-no-unlabeled', d.batchSize, d, 6), ...distillCommon, init: alignedS, unlabeled: [] })).model]);
  }
  rows.push(['teacher', teacher]);

  // Final models: the student as safetensors and ONNX, the teacher as safetensors.
  saveModel(runDir.file('models', 'student.safetensors'), student, { dataset: ds.name, bins: trainSplit.bins });
  saveModel(runDir.file('models', 'teacher.safetensors'), teacher, { dataset: ds.name, bins: trainSplit.bins });
  const view = evalView(S.imgSize);
  if (student.config.head.kind === 'score') {
    await exportOnnx(runDir.file('models', 'student.onnx'), {
      encoder: student.encoder,
      head: student.head,
      preprocessing: { size: S.imgSize, resize: S.imgSize, mean: [...view.normalization.mean], std: [...view.normalization.std] },
      scoreBins: trainSplit.bins,
      modelConfig: { ...student.config, dataset: ds.name },
      name: 'cskd-student',
    });
  }

  const results: ResultRow[] = [];
  const evalSplit = test ?? val;
  if (evalSplit) {
    for (const [name, model] of rows) {
      const ev: Evaluation = await evaluateSplit(model, evalSplit, evalView(model.config.encoder.imgSize), { threshold, cache });
      results.push({ name, report: ev.report });
      savePredictions(runDir.path, name, ev); // the report plots these instead of scoring again
      runDir.log({ event: 'test', model: name, split: evalSplit.name, ...ev.report });
    }
  }
  if (o.report ?? true) {
    try {
      log(`report: ${await writeRunReport(runDir.path)}`);
    } catch (e) {
      log(`report: not written (${(e as Error).message})`);
    }
  }
  log(`run directory: ${runDir.path}`);
  return { runDir, rows: results, student, teacher };
}

/** The directory a config file's relative paths are resolved against. */
export function configBaseDir(configPath: string): string {
  return dirname(resolve(configPath));
}
