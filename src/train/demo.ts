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
      // Few epochs over thousands of images: phase 1 must generalise past the mean embedding, not memorise a small pool.
      align: { epochs: 8, lr: 2e-3, batchSize: 16, warmupEpochs: 1, projectorHidden: 256 },
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

/** One probe cell over seeds: SRCC per seed (with its interval when there is one seed). */
export interface DemoProbeRow {
  features: string;
  split: string;
  srcc: number[];
  low: number[];
  high: number[];
}

/** Phase 1's selected epoch per encoder and seed: the fraction of the mean-direction loss explained on held-out images. */
export interface DemoAlignRow {
  phase: string;
  explained: number[];
  heldOut: number;
}

export interface DemoResult {
  runDir: RunDir;
  seeds: number[];
  rows: DemoRow[];
  probes: DemoProbeRow[];
  align: DemoAlignRow[];
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
  const data = await generateDemo({ outDir: runDir.file('data'), size: 96, unlabeledPerSource: 400, unlabeledExtra: 600 });
  log(`demo data (SYNTHETIC scores): ${data.train} train and ${data.test} test images, ${data.unlabeled.reduce((s, u) => s + u.files, 0)} unlabeled; photos from ${data.photoPackages.length} packages`);
  const seeds = Array.from({ length: o.seeds }, (_, i) => i);
  const rows = new Map<string, ScoreReport[]>();
  const probes = new Map<string, DemoProbeRow>();
  const align = new Map<string, DemoAlignRow>();
  for (const seed of seeds) {
    const config = demoConfig(data.config, seed);
    const seedDir = runDir.seed(seed);
    const r = await train(config, { runDir: seedDir, features: o.features, report: false, ...(o.onEvent ? { onEvent: o.onEvent } : {}) });
    for (const row of r.rows) rows.set(row.name, [...(rows.get(row.name) ?? []), row.report]);
    for (const p of r.probes) {
      const key = `${p.features}\t${p.split}`;
      const cell = probes.get(key) ?? { features: p.features, split: p.split, srcc: [], low: [], high: [] };
      cell.srcc.push(p.srcc);
      cell.low.push(p.low);
      cell.high.push(p.high);
      probes.set(key, cell);
    }
    for (const e of seedDir.events()) {
      if (e['event'] !== 'align-eval' || e['selected'] !== true) continue;
      const phase = String(e['phase']);
      const a = align.get(phase) ?? { phase, explained: [], heldOut: e['heldOut'] as number };
      a.explained.push(1 - (e['loss'] as number) / (e['baseline'] as number));
      align.set(phase, a);
    }
  }
  const result = {
    runDir,
    seeds,
    rows: [...rows.entries()].map(([name, reports]) => ({ name, reports })),
    probes: [...probes.values()],
    align: [...align.values()],
    student: runDir.seed(0).model('student', 'onnx'),
  };
  runDir.log({ event: 'demo', seeds, rows: result.rows, probes: result.probes, align: result.align });
  try {
    log(`report: ${await writeRunReport(runDir.path)}`);
  } catch (e) {
    log(`report: not written (${(e as Error).message})`);
  }
  return result;
}

const spread = (xs: number[], digits = 3) => {
  const { mean, std } = meanAndSpread(xs);
  return xs.length > 1 ? `${mean.toFixed(digits)} ± ${std.toFixed(digits)}` : mean.toFixed(digits);
};

/** The probe table `cskd demo` prints next to the SRCC table: probe SRCC per feature set (an interval for one seed, mean ± std for several). */
export function formatDemoProbeTable(r: DemoResult): string {
  if (r.probes.length === 0) return '(no probe results)';
  const width = Math.max(...r.probes.map((p) => p.features.length), 8);
  const head = `${'features'.padEnd(width)}  probe SRCC on ${r.probes[0]?.split ?? 'test'}`;
  const lines = r.probes.map((p) => `${p.features.padEnd(width)}  ${p.srcc.length === 1 ? `${(p.srcc[0] as number).toFixed(3)} [${(p.low[0] as number).toFixed(2)}, ${(p.high[0] as number).toFixed(2)}]` : spread(p.srcc)}`);
  return [head, '-'.repeat(head.length + 10), ...lines].join('\n');
}

/** What the two tables say, in words, from their numbers. */
export function demoVerdict(r: DemoResult): string {
  const mean = (xs: number[] | undefined) => (xs && xs.length > 0 ? meanAndSpread(xs).mean : NaN);
  const probe = (name: string) => mean(r.probes.find((p) => p.features === name)?.srcc);
  const srcc = (name: string) => mean(r.rows.find((x) => x.name === name)?.reports.map((q) => q.srcc));
  const student = r.align.find((a) => a.phase === 'align-student');
  const parts: string[] = [];
  if (student) parts.push(`Phase 1 explains ${spread(student.explained, 2)} of the mean-direction loss on ${student.heldOut} held-out images (student encoder; 0 would be learning only the mean embedding).`);
  const [frozen, aligned, init] = [probe('frozen'), probe('aligned-student'), probe('init-student')];
  if (Number.isFinite(frozen) && Number.isFinite(aligned) && Number.isFinite(init)) {
    parts.push(
      `A ridge probe finds SRCC ${frozen.toFixed(2)} in the frozen encoder's features, ${aligned.toFixed(2)} in the aligned student's and ${init.toFixed(2)} in the same encoder at its initialisation: ` +
        (aligned > init + 0.05 ? 'alignment carried label information into the student.' : aligned < init - 0.05 ? 'alignment moved the student away from what these labels depend on.' : 'alignment neither added nor removed much of what these labels depend on.'),
    );
  }
  const withA = srcc('student (aligned + unlabeled)');
  const without = srcc('student without alignment');
  if (Number.isFinite(withA) && Number.isFinite(without)) {
    parts.push(`After phase 2 the aligned student scores ${withA.toFixed(2)} and the one without alignment ${without.toFixed(2)}${r.seeds.length > 1 ? ' (means over seeds; compare the difference with the spreads)' : ' (one seed: run --seeds 3 to tell a gain from noise)'}.`);
  }
  return parts.join(' ');
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
