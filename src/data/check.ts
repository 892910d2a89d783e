// `cskd data check`: read a dataset config, validate every label row, then
// open and fully decode every image it names (a small view, so truncation is
// caught without paying for full-size transforms). Nothing here throws for a
// bad row or file; everything is counted and listed.
import { loadDataset } from './datasets.js';
import { DEFAULT_MAX_PIXELS, openImage, renderView } from './decode.js';
import { IMAGE_ERROR_KINDS, ImageFileError, formatLabelIssue, type ImageErrorKind, type LabelIssue } from './errors.js';
import { Rng } from '../util/rng.js';
import { evalView } from './transforms.js';

export interface CheckOptions {
  maxPixels?: number;
  /** Files decoding at once (default 4). */
  concurrency?: number;
}

export interface SplitSummary {
  name: string;
  format: string;
  bins: readonly number[];
  samples: number;
  labelIssues: number;
  meanScore: number;
}

export interface SourceSummary {
  name: string;
  weight: number;
  files: number;
}

export interface BadFile {
  path: string;
  /** Split or unlabeled source that names the file. */
  owner: string;
  kind: ImageErrorKind;
  detail: string;
}

export interface DataCheckReport {
  dataset: string;
  splits: SplitSummary[];
  unlabeled: SourceSummary[];
  /** Distinct image files checked, and how many decoded. */
  filesChecked: number;
  filesOk: number;
  badByKind: Record<ImageErrorKind, number>;
  badFiles: BadFile[];
  labelIssues: LabelIssue[];
}

async function checkFile(path: string, maxPixels: number): Promise<ImageFileError | null> {
  try {
    await renderView(await openImage(path, { maxPixels }), evalView(16), new Rng(0));
    return null;
  } catch (e) {
    if (e instanceof ImageFileError) return e;
    return new ImageFileError(path, 'unreadable', (e as Error).message);
  }
}

export async function checkDataset(configPath: string, options: CheckOptions = {}): Promise<DataCheckReport> {
  const ds = await loadDataset(configPath);
  const owners = new Map<string, string>();
  for (const s of ds.splits) for (const x of s.samples) if (!owners.has(x.path)) owners.set(x.path, s.name);
  for (const u of ds.unlabeled) for (const f of u.files) if (!owners.has(f)) owners.set(f, `unlabeled:${u.name}`);
  const paths = [...owners.keys()];
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const results: (ImageFileError | null)[] = new Array(paths.length);
  let next = 0;
  const workers = Array.from({ length: options.concurrency ?? 4 }, async () => {
    while (next < paths.length) {
      const i = next++;
      results[i] = await checkFile(paths[i]!, maxPixels);
    }
  });
  await Promise.all(workers);
  const badByKind = Object.fromEntries(IMAGE_ERROR_KINDS.map((k) => [k, 0])) as Record<ImageErrorKind, number>;
  const badFiles: BadFile[] = [];
  results.forEach((e, i) => {
    if (!e) return;
    badByKind[e.kind]++;
    badFiles.push({ path: paths[i]!, owner: owners.get(paths[i]!)!, kind: e.kind, detail: e.detail });
  });
  return {
    dataset: ds.name,
    splits: ds.splits.map((s) => ({
      name: s.name,
      format: s.format,
      bins: s.bins,
      samples: s.samples.length,
      labelIssues: s.issues.length,
      meanScore: s.samples.reduce((a, x) => a + x.mean, 0) / Math.max(1, s.samples.length),
    })),
    unlabeled: ds.unlabeled.map((u) => ({ name: u.name, weight: u.weight, files: u.files.length })),
    filesChecked: paths.length,
    filesOk: paths.length - badFiles.length,
    badByKind,
    badFiles,
    labelIssues: [...ds.issues, ...ds.splits.flatMap((s) => s.issues)],
  };
}

/** Whether the report found nothing wrong. */
export function checkPassed(r: DataCheckReport): boolean {
  return r.badFiles.length === 0 && r.labelIssues.length === 0;
}

export function formatCheckReport(r: DataCheckReport): string {
  const lines = [`dataset ${r.dataset}`];
  for (const s of r.splits) {
    lines.push(`  split ${s.name} (${s.format}, ${s.bins.length} bins ${s.bins[0]}–${s.bins[s.bins.length - 1]}): ${s.samples} labeled images, mean score ${s.meanScore.toFixed(3)}, ${s.labelIssues} label issues`);
  }
  for (const u of r.unlabeled) lines.push(`  unlabeled ${u.name} (weight ${u.weight}): ${u.files} files`);
  const kinds = IMAGE_ERROR_KINDS.filter((k) => r.badByKind[k] > 0).map((k) => `${r.badByKind[k]} ${k}`);
  lines.push(`files: ${r.filesChecked} checked, ${r.filesOk} ok${kinds.length ? `, bad: ${kinds.join(', ')}` : ''}`);
  if (r.badFiles.length) {
    lines.push('', 'bad files:');
    for (const b of r.badFiles) lines.push(`  ${b.path}: ${b.kind} (${b.owner}): ${b.detail.split('\n')[0]}`);
  }
  if (r.labelIssues.length) {
    lines.push('', 'label issues:');
    for (const i of r.labelIssues) lines.push(`  ${formatLabelIssue(i)}`);
  }
  lines.push('', checkPassed(r) ? 'OK' : `${r.badFiles.length} bad files, ${r.labelIssues.length} label issues`);
  return lines.join('\n');
}
