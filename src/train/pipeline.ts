// `cskd train`: every phase from one config, into one run directory.
//   1. phase 1 for the teacher's and the student's encoder (cached CLIP features)
//   2. the teacher: aligned encoder + score head on the labels
//   3. the student: aligned encoder, labels + the teacher on unlabeled images
//   4. the baselines the method is judged against (no alignment, no unlabeled data)
//   5. every model scored on the test split; the student exported (safetensors, ONNX)
import { dirname, resolve } from 'node:path';

import { type Dataset, type LabeledSplit, findSplit, loadDataset } from '../data/datasets.js';
import { ImageCache } from '../data/loader.js';
import { evalView } from '../data/transforms.js';
import { type Evaluation, evaluateSplit } from '../eval/evaluate.js';
import { savePredictions, writeRunReport } from '../eval/report.js';
import type { ScoreReport } from '../eval/metrics.js';
import { importClipVision } from '../nn/clip.js';
import { vitConfig } from '../nn/registry.js';
import type { VitConfig } from '../nn/vit.js';
import type { Precision } from '../ops/precision.js';
import { exportOnnx } from '../onnx/export.js';
import { saveModel } from '../model/io.js';
import type { Model } from '../model/model.js';
import { type PhaseName, RunDir } from '../run/run_dir.js';
import { parseDevice } from '../tensor/device_memory.js';
import { alignEncoder, alignModel } from './align.js';
import { type PoolSplit, splitPool } from './held_out.js';
import { type ProbeRow, formatProbeTable, runProbes } from './probe_run.js';
import type { TrainConfig, PhaseConfig } from './config.js';
import { distill } from './distill.js';
import type { FeatureProvider } from './features.js';
import { finetune } from './finetune.js';
import type { PhaseSettings, TrainEvent } from './loop.js';

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
  /** The transfer probe after phase 1 (empty when it did not run). */
  probes: ProbeRow[];
}

function settings(p: PhaseConfig, precision: Precision): PhaseSettings {
  return {
    precision,
    epochs: p.epochs,
    lr: p.lr,
    weightDecay: p.weightDecay,
    warmupEpochs: p.warmupEpochs,
    layerDecay: p.layerDecay,
    clipNorm: p.clipNorm,
  };
}

function encoderConfig(model: string, imgSize: number | null): VitConfig {
  return vitConfig(model, imgSize ? { imgSize } : {});
}

/** A run being prepared: its directory, data and encoder configs, shared by every stage. */
export interface RunContext {
  config: TrainConfig;
  options: TrainOptions;
  runDir: RunDir;
  dataset: Dataset;
  train: LabeledSplit;
  val: LabeledSplit | null;
  test: LabeledSplit | null;
  /** Unlabeled images of every source, each once. */
  pool: string[];
  /** The dataset config (absolute path). */
  dataPath: string;
  teacherEncoder: VitConfig;
  studentEncoder: VitConfig;
  cache: ImageCache | null;
  log(message: string): void;
}

/** Reads the dataset and creates (or reopens) the run directory. */
export async function prepareRun(config: TrainConfig, o: TrainOptions): Promise<RunContext> {
  const base = o.baseDir ?? process.cwd();
  const log = (message: string) => o.onEvent?.({ type: 'log', message });
  const runDir = o.runDir ?? RunDir.create(resolve(base, config.output), 'train');
  runDir.writeConfig(config);
  const dataPath = resolve(base, config.data);
  const dataset = await loadDataset(dataPath);
  for (const issue of dataset.issues) log(`data: ${issue.file}:${issue.line}: ${issue.message}`);
  const train = findSplit(dataset, config.splits.train, 'training') as LabeledSplit;
  const val = findSplit(dataset, config.splits.val, 'validation');
  const test = findSplit(dataset, config.splits.test, 'testing');
  for (const s of [train, val, test]) if (s && s.issues.length > 0) log(`data: split '${s.name}' has ${s.issues.length} label problems (first: ${s.issues[0]?.file}:${s.issues[0]?.line}: ${s.issues[0]?.message})`);
  const pool = [...new Set(dataset.unlabeled.flatMap((s) => s.files))];
  log(`data: ${train.samples.length} labeled training images, ${pool.length} unlabeled images from ${dataset.unlabeled.length} sources`);
  return {
    config,
    options: o,
    runDir,
    dataset,
    train,
    val,
    test,
    pool,
    dataPath,
    teacherEncoder: encoderConfig(config.teacher.model, config.teacher.imgSize),
    studentEncoder: encoderConfig(config.student.model, config.student.imgSize),
    cache: config.loader.cacheShorterSide > 0 ? new ImageCache(config.loader.cacheShorterSide) : null,
    log,
  };
}

function common(ctx: RunContext, name: PhaseName, p: PhaseConfig, seedOffset: number) {
  return {
    name,
    runDir: ctx.runDir,
    seed: ctx.config.seed * 1000 + seedOffset,
    batchSize: p.batchSize,
    settings: settings(p, ctx.config.precision),
    device: parseDevice(ctx.config.device),
    cache: ctx.cache,
    ...(ctx.options.onEvent ? { onEvent: ctx.options.onEvent } : {}),
  };
}

/**
 * Phase 1 for both encoders (`cskd align`); saves models/aligned-{teacher,student}.safetensors
 * (each the best epoch on the held-out slice), then probes the frozen, aligned and initial features.
 */
export async function runAlignment(ctx: RunContext): Promise<{ teacher: Model; student: Model; probes: ProbeRow[] } | null> {
  if (ctx.config.align.skip || ctx.pool.length === 0) {
    ctx.log(ctx.config.align.skip ? 'align: skipped (align.skip)' : 'align: no unlabeled images, skipped');
    return null;
  }
  const a = ctx.config.align;
  const split = alignmentSplit(ctx);
  const where = { dataPath: ctx.dataPath, storeDir: ctx.config.clip.store === null ? null : resolve(ctx.options.baseDir ?? process.cwd(), ctx.config.clip.store) };
  const features = await ctx.options.features(ctx.pool, ctx.config, ctx.runDir, where);
  const extra = { images: split.train, heldOut: split.heldOut, features, loss: a.loss, targets: a.targets, patience: a.patience, ...(a.projectorHidden ? { projectorHidden: a.projectorHidden } : {}) };
  const options = { teacher: { ...common(ctx, 'align-teacher', a, 1), encoder: ctx.teacherEncoder, ...extra }, student: { ...common(ctx, 'align-student', a, 2), encoder: ctx.studentEncoder, ...extra } };
  const done: Record<'teacher' | 'student', Model> = {} as Record<'teacher' | 'student', Model>;
  for (const who of ['teacher', 'student'] as const) {
    const r = await alignEncoder(options[who]);
    const best = r.result.best?.metrics;
    if (r.selectedEpoch !== null && best) {
      ctx.log(`align-${who}: held-out ${r.heldOut} images: 1 − cos ${fmt(best['loss'])} at epoch ${r.selectedEpoch + 1} (selected) against ${fmt(r.baseline)} for the mean direction: explains ${fmt(best['explained'])} of it`);
    } else ctx.log(`align-${who}: no held-out images, the last epoch is handed on`);
    done[who] = r.model;
  }
  if (ctx.runDir.writer) {
    saveModel(ctx.runDir.model('aligned-teacher'), done.teacher);
    saveModel(ctx.runDir.model('aligned-student'), done.student);
  }
  let probes: ProbeRow[] = [];
  const evals = [ctx.val, ctx.test].filter((s): s is LabeledSplit => s !== null);
  if (a.probe && evals.length > 0) {
    const labeled = [...new Set([ctx.train, ...evals].flatMap((s) => s.samples.map((x) => x.path)))];
    const frozen = await ctx.options.features(labeled, ctx.config, ctx.runDir, where);
    probes = await runProbes(
      ctx.runDir,
      [
        ['frozen', { kind: 'lookup', lookup: frozen }],
        ['aligned-teacher', { kind: 'model', model: done.teacher }],
        ['aligned-student', { kind: 'model', model: done.student }],
        ['init-teacher', { kind: 'model', model: alignModel(options.teacher) }],
        ['init-student', { kind: 'model', model: alignModel(options.student) }],
      ],
      ctx.train,
      evals,
      { cache: ctx.cache, onSkip: (name, why) => ctx.log(`probe: '${name}' left out: ${why}`) },
    );
    ctx.log(`probe (ridge from pooled features to the mean score, fitted on '${ctx.train.name}'; SRCC [bootstrap 95% interval]):\n${formatProbeTable(probes)}`);
  }
  return { teacher: done.teacher, student: done.student, probes };
}

const fmt = (v: unknown) => (typeof v === 'number' ? v.toFixed(4) : '-');

/** Phase 1's training and held-out images: a named source of the pool, or the hash slice (held_out.ts). */
export function alignmentSplit(ctx: Pick<RunContext, 'config' | 'dataset' | 'pool' | 'log'>): PoolSplit {
  const a = ctx.config.align;
  let valSource: Set<string> | null = null;
  if (a.heldOutPool !== null) {
    const src = ctx.dataset.unlabeled.find((s) => s.name === a.heldOutPool);
    if (!src) throw new Error(`align.heldOutPool: the dataset has no unlabeled source '${a.heldOutPool}' (it has: ${ctx.dataset.unlabeled.map((s) => s.name).join(', ') || 'none'})`);
    valSource = new Set(src.files);
  }
  const split = splitPool(ctx.pool, { baseDir: ctx.dataset.baseDir, fraction: a.heldOutFraction, valSource });
  ctx.log(`align: ${split.train.length} training and ${split.heldOut.length} held-out images (${valSource ? `source '${a.heldOutPool}'` : `${(100 * a.heldOutFraction).toFixed(0)}% by path hash`})`);
  return split;
}

/** Phase 2a (`cskd finetune`): the teacher from an aligned encoder (or its init); saves models/teacher.safetensors. */
export async function runTeacher(ctx: RunContext, aligned: Model | null): Promise<Model> {
  const f = ctx.config.finetune;
  const teacher = (await finetune({ ...common(ctx, 'teacher', f, 3), encoder: ctx.teacherEncoder, init: aligned, train: ctx.train, val: ctx.val, threshold: ctx.dataset.threshold })).model;
  if (ctx.runDir.writer) saveModel(ctx.runDir.model('teacher'), teacher, { dataset: ctx.dataset.name, bins: ctx.train.bins });
  return teacher;
}

/** Phase 2b (`cskd distill`): a student from `init` with the teacher on `unlabeled` (none: labels only). */
export async function runStudent(ctx: RunContext, name: PhaseName, teacher: Model, init: Model | null, unlabeled: readonly string[], seedOffset = 4): Promise<Model> {
  const d = ctx.config.distill;
  return (
    await distill({
      ...common(ctx, name, d, seedOffset),
      encoder: ctx.studentEncoder,
      teacher,
      train: ctx.train,
      val: ctx.val,
      threshold: ctx.dataset.threshold,
      lambda: d.lambda,
      temperature: d.temperature,
      confidenceWeighting: d.confidenceWeighting,
      unlabeledBatchSize: d.unlabeledBatchSize,
      init,
      unlabeled,
    })
  ).model;
}

/**
 * The baseline the paper argues against: CLIP's own vision tower (imported
 * from the safetensors file clip.model names) fine-tuned with a score head on
 * the labels, with the teacher's fine-tuning settings.
 */
export async function runClipFinetune(ctx: RunContext): Promise<Model> {
  const path = ctx.config.clip.model;
  if (!path.toLowerCase().endsWith('.safetensors')) {
    throw new Error(`baselines.clipFinetune needs clip.model to be a CLIP safetensors file (Hugging Face or open_clip); got '${path}'`);
  }
  const clip = importClipVision(resolve(ctx.options.baseDir ?? process.cwd(), path));
  // The tower's encoder config (a VitConfig: ln_pre, quick-GELU, eps 1e-5); the projection is dropped.
  const encoder: VitConfig = { ...clip.config };
  delete (encoder as Partial<typeof clip.config>).projectionDim;
  const f = ctx.config.finetune;
  return (await finetune({ ...common(ctx, 'clip-finetune', f, 7), encoder, init: clip, train: ctx.train, val: ctx.val, threshold: ctx.dataset.threshold })).model;
}

/** The shipped student: models/student.safetensors and models/student.onnx (rank 0 writes them). */
export async function exportStudent(ctx: RunContext, student: Model): Promise<void> {
  if (!ctx.runDir.writer) return;
  saveModel(ctx.runDir.model('student'), student, { dataset: ctx.dataset.name, bins: ctx.train.bins });
  const S = student.config.encoder;
  const view = evalView(S.imgSize);
  if (student.config.head.kind !== 'score') return;
  await exportOnnx(ctx.runDir.model('student', 'onnx'), {
    encoder: student.encoder,
    head: student.head,
    preprocessing: { size: S.imgSize, resize: S.imgSize, mean: [...view.normalization.mean], std: [...view.normalization.std] },
    scoreBins: ctx.train.bins,
    modelConfig: { ...student.config, dataset: ctx.dataset.name },
    name: 'cskd-student',
  });
}

/** Scores models on the test split (else validation), logs and keeps the predictions for the report. */
export async function scoreModels(ctx: RunContext, models: readonly [string, Model][]): Promise<ResultRow[]> {
  const split = ctx.test ?? ctx.val;
  const rows: ResultRow[] = [];
  if (!split) return rows;
  for (const [name, model] of models) {
    // Under several ranks each scores a slice; all get every prediction.
    const ev: Evaluation = await evaluateSplit(model, split, evalView(model.config.encoder.imgSize), { threshold: ctx.dataset.threshold, cache: ctx.cache, comm: ctx.runDir.comm });
    rows.push({ name, report: ev.report });
    if (ctx.runDir.writer) savePredictions(ctx.runDir.path, name, ev); // the report plots these instead of scoring again
    ctx.runDir.log({ event: 'test', model: name, split: split.name, ...ev.report });
  }
  return rows;
}

/** Writes report.html unless the options say not to; never fails the run. */
export async function finishRun(ctx: RunContext): Promise<void> {
  if ((ctx.options.report ?? true) && ctx.runDir.writer) {
    try {
      ctx.log(`report: ${await writeRunReport(ctx.runDir.path)}`);
    } catch (e) {
      ctx.log(`report: not written (${(e as Error).message})`);
    }
  }
}

/** Every phase: alignment, teacher, student, baselines, test scores, export, report. */
export async function train(config: TrainConfig, o: TrainOptions): Promise<TrainResult> {
  const ctx = await prepareRun(config, o);
  const aligned = await runAlignment(ctx);
  const teacher = await runTeacher(ctx, aligned?.teacher ?? null);
  const student = await runStudent(ctx, 'student', teacher, aligned?.student ?? null, ctx.pool);
  const models: [string, Model][] = [['student (aligned + unlabeled)', student]];
  if (config.baselines.noAlign && aligned) models.push(['student without alignment', await runStudent(ctx, 'student-no-align', teacher, null, ctx.pool, 5)]);
  if (config.baselines.noUnlabeled) models.push(['student without unlabeled data', await runStudent(ctx, 'student-no-unlabeled', teacher, aligned?.student ?? null, [], 6)]);
  models.push(['teacher', teacher]);
  if (config.baselines.clipFinetune) models.push(["CLIP's encoder fine-tuned", await runClipFinetune(ctx)]);
  await exportStudent(ctx, student);
  const rows = await scoreModels(ctx, models);
  await finishRun(ctx);
  return { runDir: ctx.runDir, rows, student, teacher, probes: aligned?.probes ?? [] };
}

/** The directory a config file's relative paths are resolved against. */
export function configBaseDir(configPath: string): string {
  return dirname(resolve(configPath));
}
