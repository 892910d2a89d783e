// Dataset configuration: a JSON file naming labeled splits (each in one of
// the formats under formats/) and unlabeled sources. Relative paths resolve
// against the config file's folder. Reading never throws on bad rows: every
// problem is kept as a file:line issue next to the samples that were fine.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';

import { LabelFileError, type LabelIssue } from './errors.js';
import { readAadb } from './formats/aadb.js';
import { readAva } from './formats/ava.js';
import { readPara } from './formats/para.js';
import type { LabelSource } from './formats/source.js';
import { readTable } from './formats/table.js';
import { readTad66k } from './formats/tad66k.js';
import type { LabelCollector, LabeledSample } from './labels.js';
import { resolvePool, type UnlabeledSource, type UnlabeledSourceConfig } from './pool.js';

export type { LabelSource } from './formats/source.js';

export interface DatasetConfig {
  name?: string;
  /** Free text: where the data came from (the demo marks itself SYNTHETIC here). */
  description?: string;
  /** Labeled splits by name (train, val, test, …). */
  labeled?: Record<string, LabelSource>;
  unlabeled?: UnlabeledSourceConfig[];
  /** Score threshold for binary accuracy (default 5, AVA's midpoint). */
  threshold?: number;
}

export interface LabeledSplit {
  name: string;
  format: LabelSource['format'];
  /** Bin scores of the distributions. */
  bins: readonly number[];
  samples: LabeledSample[];
  issues: LabelIssue[];
}

export interface Dataset {
  name: string;
  /** Folder of the config file. */
  baseDir: string;
  threshold: number;
  splits: LabeledSplit[];
  unlabeled: UnlabeledSource[];
  /** Problems with the config or the unlabeled sources. */
  issues: LabelIssue[];
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new LabelFileError([{ file, line: 0, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
}

function collect(src: LabelSource, text: string, file: string, images: string): LabelCollector {
  switch (src.format) {
    case 'ava':
      return readAva(text, file, src, images);
    case 'aadb':
      return readAadb(text, file, src, images);
    case 'para':
      return readPara(text, file, src, images);
    case 'tad66k':
      return readTad66k(text, file, src, images);
    case 'csv':
    case 'jsonl':
      if (!src.columns || !Array.isArray(src.bins) || src.bins.length < 2) {
        throw new LabelFileError([{ file, line: 0, message: `format '${src.format}' needs 'columns' and 'bins' (at least 2 bin scores)` }]);
      }
      return readTable(text, file, src.format, { columns: src.columns, bins: src.bins, counts: src.counts ?? true, meanStd: src.meanStd }, images, src.delimiter);
    default:
      throw new LabelFileError([{ file, line: 0, message: `unknown label format '${(src as { format: string }).format}'` }]);
  }
}

/** The key a split list entry matches: its base name without extension (AVA ids, file names). */
function splitKey(s: string): string {
  const b = basename(s.trim());
  return extname(b) ? b.slice(0, -extname(b).length) : b;
}

/** Reads one labeled split; a missing label file is thrown, bad rows are issues. */
export async function readLabeledSplit(name: string, src: LabelSource, baseDir: string): Promise<LabeledSplit> {
  const file = resolve(baseDir, src.labels);
  const images = resolve(baseDir, src.images ?? '.');
  const c = collect(src, await readText(file), file, images);
  let samples = c.samples;
  // Readers report in passes (parse, then validate); present them in file order.
  const issues = [...c.issues].sort((a, b) => a.line - b.line);
  if (src.split) {
    const listFile = resolve(baseDir, src.split);
    const byKey = new Map<string, LabeledSample>();
    for (const s of samples) byKey.set(splitKey(s.id), s);
    const kept: LabeledSample[] = [];
    const seen = new Set<string>();
    (await readText(listFile)).split(/\r?\n/).forEach((raw, i) => {
      const t = raw.trim();
      if (t === '' || t.startsWith('#')) return;
      const key = splitKey(t);
      const s = byKey.get(key);
      if (!s) issues.push({ file: listFile, line: i + 1, message: `'${t}' has no usable label in ${file}` });
      else if (seen.has(key)) issues.push({ file: listFile, line: i + 1, message: `'${t}' listed twice` });
      else kept.push(s);
      seen.add(key);
    });
    samples = kept;
  }
  return { name, format: src.format, bins: c.bins, samples, issues };
}

/** Reads a dataset config file and everything it names. */
export async function loadDataset(configPath: string): Promise<Dataset> {
  const file = resolve(configPath);
  let config: DatasetConfig;
  try {
    config = JSON.parse(await readText(file)) as DatasetConfig;
  } catch (e) {
    if (e instanceof LabelFileError) throw e;
    throw new LabelFileError([{ file, line: 0, message: `not valid JSON: ${(e as Error).message}` }]);
  }
  return loadDatasetConfig(config, dirname(file));
}

export async function loadDatasetConfig(config: DatasetConfig, baseDir: string): Promise<Dataset> {
  const splits: LabeledSplit[] = [];
  for (const [name, src] of Object.entries(config.labeled ?? {})) splits.push(await readLabeledSplit(name, src, baseDir));
  const { sources, issues } = await resolvePool(config.unlabeled ?? [], baseDir);
  return { name: config.name ?? basename(baseDir), baseDir, threshold: config.threshold ?? 5, splits, unlabeled: sources, issues };
}

/**
 * The split named `name` (null: none). A missing or empty split is an error
 * naming what it was wanted for and which splits the dataset has.
 */
export function findSplit(ds: Dataset, name: string, role: string): LabeledSplit;
export function findSplit(ds: Dataset, name: string | null, role: string): LabeledSplit | null;
export function findSplit(ds: Dataset, name: string | null, role: string): LabeledSplit | null {
  if (name === null) return null;
  const s = ds.splits.find((x) => x.name === name);
  if (!s) throw new Error(`dataset '${ds.name}' has no split '${name}' (for ${role}); it has: ${ds.splits.map((x) => x.name).join(', ') || 'none'}`);
  if (s.samples.length === 0) throw new Error(`split '${name}' of dataset '${ds.name}' has no usable samples`);
  return s;
}

/** An unlabeled pool from a path: a dataset config's unlabeled sources, or one folder of images as one source. */
export async function loadUnlabeledPool(source: string): Promise<{ sources: UnlabeledSource[]; issues: LabelIssue[]; isFolder: boolean }> {
  const abs = resolve(source);
  if (!existsSync(abs)) throw new Error(`${abs} does not exist (expected a dataset config .json with 'unlabeled' sources, or a folder of images)`);
  if (statSync(abs).isDirectory()) return { ...(await resolvePool([{ name: basename(abs), dir: abs }], abs)), isFolder: true };
  const ds = await loadDataset(abs);
  return { sources: ds.unlabeled, issues: ds.issues, isFolder: false };
}
