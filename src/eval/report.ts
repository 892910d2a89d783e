// The run report: one self-contained HTML file (inline CSS and SVG, no
// scripts, nothing fetched) that opens from disk. It reads what a run directory
// holds — metrics.jsonl, config.json, checkpoints/, models/ — and recomputes
// what the log does not keep: the test split's predictions (scatter,
// histograms; read from predictions/*.json when the run kept them with
// savePredictions, else scored now and kept) and the attention analysis of the
// run's encoders.
//
// A `cskd demo` directory (a 'demo' event and seed-*/ run directories) gets the
// ablation table over seeds; its curves show every seed, and predictions and
// attention come from the first seed's run.
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

import { type LabeledSplit, findSplit, loadDataset } from '../data/datasets.js';
import { evalView } from '../data/transforms.js';
import { environmentRows } from '../tensor/devices.js';
import { loadModel } from '../model/io.js';
import { type RunEvent, readEvents } from '../run/events.js';
import { CONFIG_FILE, METRICS_FILE, type PhaseName, REPORT_FILE, checkpointPath, metricsFile, modelPath, predictionsDir, seedRunPaths } from '../run/run_dir.js';
import { writeFileAtomicSync } from '../util/atomic_file.js';
import {
  type AnalyzedEncoder,
  type AttentionAnalysis,
  analyzeAttention,
  encoderAtInit,
  encoderFromCheckpoint,
  encoderFromClip,
  selectImages,
  writeAttentionAnalysis,
} from './attention_analysis.js';
import { type Evaluation, evaluateSplit } from './evaluate.js';
import { type ScoreReport, meanAndSpread, plcc, srcc } from './metrics.js';
import { phase1Section } from './report_phase1.js';
import { type CurvePanel, type Figure, attentionFigure, curvesFigure, escapeXml, histogramPlot, scatterPlot } from './plots.js';

export interface RunReportOptions {
  /** Recompute the test split's predictions for the scatter and histograms (default true). */
  predictions?: boolean;
  /** Run the attention analysis of the run's encoders (default true). */
  attention?: boolean;
  /** Images for the attention analysis (default 32). */
  attentionImages?: number;
  /** Where to write (default runDir/report.html). */
  out?: string;
}

type Event = RunEvent;

function readJson(path: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

const fmt = (v: unknown, digits = 3) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–');

function table(head: string[], rows: string[][], cls = ''): string {
  return (
    `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map((c, i) => `<td${i === 0 ? '' : ' class="num"'}>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`
  );
}

const METRIC_COLUMNS: [keyof ScoreReport, string][] = [
  ['srcc', 'SRCC'],
  ['plcc', 'PLCC'],
  ['krcc', 'KRCC'],
  ['accuracy', 'accuracy'],
  ['rmse', 'RMSE'],
  ['mae', 'MAE'],
  ['emd', 'EMD'],
];

/** The demo's ablation table: each metric as mean ± sample std over seeds (plain values for one seed). */
export function ablationTable(rows: { name: string; reports: ScoreReport[] }[]): string {
  const seeds = Math.max(0, ...rows.map((r) => r.reports.length));
  const cell = (xs: number[]) => {
    const { mean, std } = meanAndSpread(xs);
    return xs.length > 1 ? `${mean.toFixed(3)} <span class="spread">± ${std.toFixed(3)}</span>` : mean.toFixed(3);
  };
  const body = rows.map((r) => [escapeXml(r.name), ...METRIC_COLUMNS.map(([k]) => cell(r.reports.map((q) => q[k] as number).filter((v) => typeof v === 'number')))]);
  const note = seeds > 1 ? `<p class="note">Mean ± sample standard deviation over ${seeds} seeds.</p>` : '<p class="note">One seed: run <code>cskd demo --seeds 3</code> to tell a gain from noise.</p>';
  return table(['model', ...METRIC_COLUMNS.map(([, h]) => h)], body) + note;
}

function testTable(events: Event[]): string {
  const tests = events.filter((e) => e['event'] === 'test');
  if (tests.length === 0) return '<p class="note">No test-split evaluation in this run.</p>';
  return table(
    ['model', 'split', 'images', ...METRIC_COLUMNS.map(([, h]) => h)],
    tests.map((t) => [escapeXml(String(t['model'])), escapeXml(String(t['split'] ?? '')), String(t['count'] ?? ''), ...METRIC_COLUMNS.map(([k]) => fmt(t[k]))]),
  );
}

/** One panel per phase (losses per epoch; every seed when there are several), and one per phase that validated. */
export function curvePanels(runs: { seed: number | null; events: Event[] }[]): { losses: CurvePanel[]; metrics: CurvePanel[] } {
  const phases: string[] = [];
  for (const r of runs) for (const e of r.events) if (e['event'] === 'epoch' && !phases.includes(String(e['phase']))) phases.push(String(e['phase']));
  const build = (field: 'losses' | 'metrics'): CurvePanel[] =>
    phases
      .map((phase) => {
        const keys: string[] = [];
        const series: CurvePanel['series'][number][] = [];
        runs.forEach((r, ri) => {
          const epochs = r.events.filter((e) => e['event'] === 'epoch' && e['phase'] === phase && e[field]);
          const byKey = new Map<string, [number, number][]>();
          for (const e of epochs) {
            for (const [k, v] of Object.entries(e[field] as Record<string, number>)) {
              if (!keys.includes(k)) keys.push(k);
              // The last record of an epoch wins (a resumed phase logs it again).
              const pts = byKey.get(k) ?? [];
              const ep = (e['epoch'] as number) + 1;
              const at = pts.findIndex(([x]) => x === ep);
              if (at >= 0) pts[at] = [ep, v];
              else pts.push([ep, v]);
              byKey.set(k, pts);
            }
          }
          for (const [k, pts] of byKey) {
            series.push({ name: runs.length > 1 && r.seed !== null ? `${k}, seed ${r.seed}` : k, points: pts, colorIndex: keys.indexOf(k), dashed: ri % 2 === 1 });
          }
        });
        return { title: phase, yLabel: field === 'losses' ? 'training loss' : 'validation', series };
      })
      .filter((p) => p.series.length > 0);
  return { losses: build('losses'), metrics: build('metrics') };
}

function figureHtml(fig: Figure, caption: string, cls = 'figure'): string {
  return `<figure class="${cls}">${fig.svg.replace(/^<svg /, `<svg role="img" aria-label="${escapeXml(caption)}" `)}<figcaption>${caption}</figcaption></figure>`;
}

/** What the report plots of one model's test-split predictions (runDir/predictions/<model>.json). */
export interface SavedPredictions {
  model: string;
  split: string;
  paths: string[];
  /** Label means, aligned with paths. */
  targets: number[];
  /** Predicted mean scores, aligned with paths. */
  means: number[];
}

function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'model';
}

/**
 * Keeps an evaluation's per-image predictions in the run directory, so the
 * report plots them without scoring the split again. Returns the file written.
 */
export function savePredictions(runDir: string, model: string, ev: Evaluation): string {
  const dir = predictionsDir(resolve(runDir));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${slug(model)}.json`);
  const saved: SavedPredictions = { model, split: ev.split, paths: ev.predictions.paths, targets: Array.from(ev.targets), means: Array.from(ev.predictions.means) };
  writeFileAtomicSync(file, `${JSON.stringify(saved)}\n`);
  return file;
}

function readSavedPredictions(runPath: string): SavedPredictions[] {
  const dir = predictionsDir(runPath);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => readJson(join(dir, f)) as SavedPredictions | null)
    .filter((p): p is SavedPredictions => p !== null && Array.isArray(p.means) && Array.isArray(p.targets) && p.means.length === p.targets.length);
}

interface PredictionSection {
  html: string;
  testImages: string[];
}

function predictionFigures(preds: SavedPredictions[], bins: readonly number[]): string {
  const all = preds.flatMap((p) => p.targets);
  const lo = Math.floor(Math.min(...all, ...bins));
  const hi = Math.ceil(Math.max(...all, ...bins));
  const cells: string[] = [];
  for (const p of preds) {
    const notes = [`SRCC ${fmt(srcc(p.means, p.targets))} · PLCC ${fmt(plcc(p.means, p.targets))}`, `n = ${p.means.length}`];
    cells.push(
      figureHtml(scatterPlot(p.targets, p.means, { title: `${p.model}: predicted vs true`, domain: [lo, hi], notes }), `${escapeXml(p.model)} on '${escapeXml(p.split)}': one point per image; dashed line y = x.`, 'figure small'),
      figureHtml(
        histogramPlot(
          [
            { name: 'true', values: p.targets },
            { name: 'predicted', values: p.means },
          ],
          { title: `${p.model}: mean scores`, range: [lo, hi], bins: Math.min(40, Math.max(10, Math.round(Math.sqrt(p.means.length) * 2))) },
        ),
        `True and predicted mean scores (${escapeXml(p.model)}). A predicted histogram much narrower than the true one means the model hedges toward the mean.`,
        'figure small',
      ),
    );
  }
  return `<div class="grid">${cells.join('\n')}</div>`;
}

async function predictionSection(runPath: string, config: Record<string, unknown> | null): Promise<PredictionSection> {
  const data = config?.['data'];
  const splits = (config?.['splits'] ?? {}) as { test?: string | null; val?: string | null };
  const splitName = splits.test ?? splits.val ?? null;
  const saved = readSavedPredictions(runPath);
  let split: LabeledSplit | undefined;
  let problem = '';
  if (typeof data !== 'string' || !splitName) problem = 'No test or validation split in the config: nothing to score.';
  else {
    try {
      const ds = await loadDataset(resolve(runPath, data));
      split = findSplit(ds, splitName, 'the report');
    } catch (e) {
      problem = `Could not read split '${escapeXml(splitName)}' of ${escapeXml(data)}: ${escapeXml((e as Error).message)}`;
    }
  }
  const testImages = split?.samples.map((s) => s.path) ?? saved[0]?.paths ?? [];
  // Predictions the run kept (savePredictions) are plotted as they are; else the final models are scored now and kept.
  if (saved.length > 0) return { html: predictionFigures(saved, split?.bins ?? []), testImages };
  if (!split) return { html: `<p class="note">${problem}</p>`, testImages };
  const models = [
    ['student', modelPath(runPath, 'student')],
    ['teacher', modelPath(runPath, 'teacher')],
  ].filter(([, p]) => existsSync(p as string)) as [string, string][];
  if (models.length === 0) return { html: '<p class="note">No final models in models/ (the run did not finish).</p>', testImages };
  const preds: SavedPredictions[] = [];
  for (const [name, path] of models) {
    const model = loadModel(path);
    const ev = await evaluateSplit(model, split, evalView(model.config.encoder.imgSize));
    savePredictions(runPath, name, ev);
    preds.push({ model: name, split: ev.split, paths: ev.predictions.paths, targets: Array.from(ev.targets), means: Array.from(ev.predictions.means) });
  }
  return { html: predictionFigures(preds, split.bins), testImages };
}

/** The run's encoders worth comparing, in the paper's order: before alignment, after, the trained models, CLIP. */
export function runEncoders(runPath: string, config: Record<string, unknown> | null): AnalyzedEncoder[] {
  const out: AnalyzedEncoder[] = [];
  const student = (config?.['student'] as { model?: string } | undefined)?.model;
  const seed = typeof config?.['seed'] === 'number' ? (config['seed'] as number) : 0;
  const ck = (phase: PhaseName) => checkpointPath(runPath, phase, 'last');
  if (student && existsSync(ck('align-student'))) out.push(encoderAtInit(student, seed, 'student encoder at init (before alignment)'));
  if (existsSync(ck('align-student'))) out.push(encoderFromCheckpoint(ck('align-student'), 'student encoder after alignment'));
  if (existsSync(ck('student-no-align'))) out.push(encoderFromCheckpoint(ck('student-no-align'), 'student without alignment'));
  if (existsSync(modelPath(runPath, 'student'))) out.push(encoderFromCheckpoint(modelPath(runPath, 'student'), 'student (aligned + unlabeled)'));
  if (existsSync(modelPath(runPath, 'teacher'))) out.push(encoderFromCheckpoint(modelPath(runPath, 'teacher'), 'teacher'));
  const clip = (config?.['clip'] as { model?: string } | undefined)?.model;
  if (clip && /\.safetensors$/i.test(clip) && existsSync(resolve(runPath, clip))) out.push(encoderFromClip(resolve(runPath, clip), 'CLIP'));
  return out;
}

async function attentionSection(runPath: string, config: Record<string, unknown> | null, images: string[], count: number): Promise<string> {
  const encoders = runEncoders(runPath, config);
  if (encoders.length === 0) return '<p class="note">No encoder checkpoints in this run directory.</p>';
  if (images.length === 0) return '<p class="note">No images to analyse attention on.</p>';
  const chosen = await selectImages(images, { count });
  const analysis: AttentionAnalysis = await analyzeAttention(encoders, chosen, { batchSize: 16 });
  await writeAttentionAnalysis(analysis, join(runPath, 'analysis'));
  const clip = (config?.['clip'] as { model?: string } | undefined)?.model;
  const clipNote = clip && !/\.safetensors$/i.test(clip) ? ` CLIP itself is not shown: this run aligned to '${escapeXml(clip)}', which is not a ViT cskd can open${clip === 'standin' ? ' (the offline stand-in is a MobileNetV2)' : ''}.` : '';
  const fig = attentionFigure(analysis.models, { columns: 3, panelWidth: 330 });
  const caption =
    `Mean attention distance (top, pixels of the model input) and entropy (bottom) per head (one marker each) against depth, over ${analysis.models[0]?.images ?? 0} test images; the line joins each layer's mean over heads. ` +
    `Heads that all sit low and together are the feature collapse that alignment is meant to relieve. Numbers: analysis/attention.json.${clipNote}`;
  return figureHtml(fig, caption, 'figure wide');
}

function environmentTable(): string {
  return `<table class="kv"><tbody>${environmentRows()
    .map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`)
    .join('')}</tbody></table>`;
}

function throughputTable(events: Event[]): string {
  const last = new Map<string, Event>();
  for (const e of events) if (e['event'] === 'epoch') last.set(String(e['phase']), e);
  if (last.size === 0) return '';
  return table(
    ['phase', 'epochs', 'images/s', 'waiting for data'],
    [...last.entries()].map(([phase, e]) => [escapeXml(phase), String((e['epoch'] as number) + 1), fmt(e['imagesPerSec'], 0), `${fmt((e['waitFraction'] as number) * 100, 0)}%`]),
    'compact',
  );
}

const CSS = `
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#1d232b;line-height:1.45}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px;background:#fff;min-height:100vh;box-sizing:border-box}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 10px;padding-bottom:4px;border-bottom:1px solid #dde1e6}
.meta{color:#5a6472;font-size:13px;margin:0 0 8px;word-break:break-all}
.warning{background:#fff6e0;border:1px solid #f0c36d;padding:8px 12px;border-radius:4px;font-size:14px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{padding:4px 10px;border-bottom:1px solid #e6e8eb;text-align:left;vertical-align:top}
thead th{background:#f0f2f5;border-bottom:1px solid #cfd4da}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.kv th{background:none;font-weight:600;white-space:nowrap}.spread{color:#6b7480}
.note{color:#5a6472;font-size:13px;margin:4px 0 10px}
figure{margin:10px 0 18px}figure svg{display:block;max-width:100%;height:auto}
figcaption{font-size:12.5px;color:#4a5360;margin-top:4px;max-width:900px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:8px 16px}
.grid figure{margin:4px 0}
h3{font-size:15px;margin:18px 0 6px}
pre{background:#f6f8fa;border:1px solid #e1e4e8;padding:10px;font-size:12px;overflow:auto;max-height:480px}
details summary{cursor:pointer;font-size:14px;margin:4px 0}
code{font-size:12.5px;background:#f0f2f5;padding:1px 4px;border-radius:3px}
`;

/** Writes runDir/report.html (or opts.out) and returns its path. */
export async function writeRunReport(runDir: string, opts: RunReportOptions = {}): Promise<string> {
  const root = resolve(runDir);
  if (!existsSync(metricsFile(root))) throw new Error(`${root}: not a run directory (no ${METRICS_FILE})`);
  const rootEvents = readEvents(metricsFile(root));
  const demo = [...rootEvents].reverse().find((e) => e['event'] === 'demo') as (Event & { rows?: { name: string; reports: ScoreReport[] }[] }) | undefined;
  const seeds = demo ? seedRunPaths(root) : [];
  const runs = demo ? seeds.map((s) => ({ seed: s.seed, path: s.path, events: readEvents(metricsFile(s.path)) })) : [{ seed: null, path: root, events: rootEvents }];
  const primary = runs[0];
  if (!primary) throw new Error(`${root}: a demo directory without seed-*/ run directories`);
  const config = readJson(join(primary.path, CONFIG_FILE));
  const sections: string[] = [];

  const synthetic = demo || config?.['clip'] && (config['clip'] as { model?: string }).model === 'standin';
  if (synthetic) {
    sections.push(
      `<p class="warning">${demo ? 'Demo run on SYNTHETIC data: scores come from a formula over synthetic degradations, not from human raters. ' : ''}` +
        `The frozen encoder features were aligned to is an offline STAND-IN (MobileNetV2 features), not CLIP.</p>`,
    );
  }

  sections.push('<h2>Test results</h2>');
  if (demo?.rows) sections.push(ablationTable(demo.rows));
  else sections.push(testTable(primary.events));
  const stopped = runs.flatMap((r) => r.events.filter((e) => e['event'] === 'stopped'));
  for (const s of stopped) sections.push(`<p class="warning">Stopped: ${escapeXml(String(s['reason']))}</p>`);

  sections.push('<h2>Training curves</h2>');
  const curves = curvePanels(runs);
  if (curves.losses.length > 0) sections.push(figureHtml(curvesFigure(curves.losses, { columns: 3, panelWidth: 360, panelHeight: 230 }), `Mean training loss per epoch, one panel per phase${runs.length > 1 ? '; one line per seed (odd seeds dashed)' : ''}.`, 'figure wide'));
  else sections.push('<p class="note">No epochs logged yet.</p>');
  if (curves.metrics.length > 0) sections.push(figureHtml(curvesFigure(curves.metrics, { columns: 3, panelWidth: 360, panelHeight: 230 }), 'Validation metrics per epoch.', 'figure wide'));
  sections.push(throughputTable(primary.events));

  sections.push('<h2>Phase 1: held-out alignment and the transfer probe</h2>', phase1Section(runs, (fig, caption) => figureHtml(fig, caption, 'figure wide')));

  const seedNote = runs.length > 1 ? ` (seed ${primary.seed}'s run)` : '';
  sections.push(`<h2>Predictions on the test split${seedNote}</h2>`);
  let testImages: string[] = [];
  if (opts.predictions ?? true) {
    const p = await predictionSection(primary.path, config);
    sections.push(p.html);
    testImages = p.testImages;
  } else sections.push('<p class="note">Left out (predictions: false).</p>');

  sections.push(`<h2>Attention per head against depth${seedNote}</h2>`);
  if (opts.attention ?? true) {
    if (testImages.length === 0 && config && typeof config['data'] === 'string') {
      try {
        const ds = await loadDataset(resolve(primary.path, config['data']));
        testImages = ds.splits.flatMap((s) => s.samples.map((x) => x.path));
      } catch {
        /* reported by the predictions section */
      }
    }
    sections.push(await attentionSection(primary.path, config, testImages, opts.attentionImages ?? 32));
  } else sections.push('<p class="note">Left out (attention: false).</p>');

  sections.push('<h2>Config</h2>', config ? `<details open><summary>config.json${seedNote}</summary><pre>${escapeXml(JSON.stringify(config, null, 2))}</pre></details>` : '<p class="note">No config.json.</p>');
  sections.push('<h2>Environment</h2><p class="note">The machine that wrote this report (<code>cskd info</code>).</p>', environmentTable());

  const title = `cskd run report: ${basename(root)}`;
  const html =
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>${escapeXml(title)}</title><style>${CSS}</style></head>\n<body><main>\n<h1>${escapeXml(title)}</h1>\n` +
    `<p class="meta">${escapeXml(root)} · written ${new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}${runs.length > 1 ? ` · ${runs.length} seeds` : ''}</p>\n` +
    `${sections.join('\n')}\n</main></body></html>\n`;
  const out = opts.out ?? join(root, REPORT_FILE);
  writeFileAtomicSync(out, html);
  return out;
}
