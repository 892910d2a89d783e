// `cskd demo`: the whole method on embedded data, on a CPU, in minutes.
// Generates the synthetic demo dataset (src/data/demo.ts: procedural images
// and public-domain photos with graded degradations), caches the frozen
// encoder's features, trains both encoders' alignment, the teacher, the
// student and its two baselines, and scores them on the test split. With
// several seeds it reports mean and spread, so a gain can be told from noise.
import { resolve } from 'node:path';

import { generateDemo } from '../data/demo.js';
import { writeRunReport } from '../eval/report.js';
import { type ScoreReport, meanAndSpread } from '../eval/metrics.js';
import { type TrainConfig, resolveTrainConfig } from './config.js';
import { RunDir } from '../run/run_dir.js';
import type { FeatureProvider } from './features.js';
import { type TrainOptions, train } from './pipeline.js';

/** Sized so the whole demo (3 alignments × 2 encoders aside) runs in minutes on 2 cores. */
export function demoConfig(dataConfig: string, seed: number): TrainConfig {
  return resolveTrainConfig(
    {
      seed,
      data: dataConfig,
      splits: { train: 'train', val: null, test: 'test' },
      clip: { model: 'standin' },
      teacher: { model: 'vit-demo-m' },
      student: { model: 'vit-demo-s' },
      align: { epochs: 15, lr: 2e-3, batchSize: 16, warmupEpochs: 1, projectorHidden: 256 },
      finetune: { epochs: 20, lr: 1e-3, batchSize: 16, layerDecay: 1 },
      distill: { epochs: 20, lr: 1e-3, batchSize: 16, unlabeledBatchSize: 16, layerDecay: 1 },
      // Demo images are small: decode each once, keep it at 1.25× the models' input.
      loader: { cacheShorterSide: 80 },
    },
    'demo config',
  );
}

export interface DemoRow {
  name: string;
  /** One report per seed. */
  reports: ScoreReport[];
}

export interface DemoResult {
  runDir: RunDir;
  seeds: number[];
  rows: DemoRow[];
  /** The exported student of the first seed (ONNX). */
  student: string;
}

export interface DemoOptions {
  seeds: number;
  /** Parent of the run directory (default: ./runs). */
  root?: string;
  features: FeatureProvider;
  onEvent?: TrainOptions['onEvent'];
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const runDir = RunDir.create(resolve(o.root ?? 'runs'), 'demo');
  const log = (message: string) => o.onEvent?.({ type: 'log', message });
  // Images at about the models' input size, so the graded degradations (blur,
  // noise, JPEG) survive to what the models see.
  const data = await generateDemo({ outDir: runDir.file('data'), size: 96, unlabeledPerSource: 48 });
  log(`demo data (SYNTHETIC scores): ${data.train} train and ${data.test} test images, ${data.unlabeled.reduce((s, u) => s + u.files, 0)} unlabeled; photos from ${data.photoPackages.length} packages`);
  const seeds = Array.from({ length: o.seeds }, (_, i) => i);
  const rows = new Map<string, ScoreReport[]>();
  for (const seed of seeds) {
    const config = demoConfig(data.config, seed);
    const seedDir = runDir.seed(seed);
    const r = await train(config, { runDir: seedDir, features: o.features, report: false, ...(o.onEvent ? { onEvent: o.onEvent } : {}) });
    for (const row of r.rows) rows.set(row.name, [...(rows.get(row.name) ?? []), row.report]);
  }
  const result = { runDir, seeds, rows: [...rows.entries()].map(([name, reports]) => ({ name, reports })), student: runDir.seed(0).model('student', 'onnx') };
  runDir.log({ event: 'demo', seeds, rows: result.rows });
  try {
    log(`report: ${await writeRunReport(runDir.path)}`);
  } catch (e) {
    log(`report: not written (${(e as Error).message})`);
  }
  return result;
}

/** The table `cskd demo` prints: SRCC and PLCC per model (mean ± sample std over seeds). */
export function formatDemoTable(r: DemoResult): string {
  const fmt = (xs: number[]) => {
    const { mean, std } = meanAndSpread(xs);
    return xs.length > 1 ? `${mean.toFixed(3)} ± ${std.toFixed(3)}` : mean.toFixed(3);
  };
  const width = Math.max(...r.rows.map((x) => x.name.length), 5);
  const head = `${'model'.padEnd(width)}  ${'SRCC'.padEnd(15)}  PLCC`;
  const lines = r.rows.map((x) => `${x.name.padEnd(width)}  ${fmt(x.reports.map((q) => q.srcc)).padEnd(15)}  ${fmt(x.reports.map((q) => q.plcc))}`);
  const note = r.seeds.length > 1 ? `\n(mean ± sample standard deviation over ${r.seeds.length} seeds)` : '';
  return [head, '-'.repeat(head.length + 10), ...lines].join('\n') + note;
}
