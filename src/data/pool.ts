// Unlabeled multi-source pools: each source is a folder (walked recursively),
// a glob, or a list file of paths, with a name and an optional sampling
// weight. An epoch draws sources in proportion to their weights and walks
// each source's own shuffled order, so a small source with a large weight
// repeats rather than a large one starving it.
import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

import type { LabelIssue } from './errors.js';
import { Rng } from '../util/rng.js';

export interface UnlabeledSourceConfig {
  name: string;
  /** A folder, walked recursively for image files. */
  dir?: string;
  /** A glob such as "photos/**\/*.jpg" (supports *, ?, **). */
  glob?: string;
  /** A text file with one image path per line (relative to the list's folder). */
  list?: string;
  /** Relative sampling weight (default 1). */
  weight?: number;
}

export interface UnlabeledSource {
  name: string;
  weight: number;
  files: string[];
}

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.avif', '.tif', '.tiff', '.gif', '.heic', '.heif'];

function isImageName(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (isImageName(e.name)) out.push(p);
  }
}

/** A glob as a RegExp over '/'-separated paths: ** spans folders, * and ? do not. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

async function expandGlob(pattern: string, baseDir: string): Promise<string[]> {
  const abs = isAbsolute(pattern) ? pattern : join(baseDir, pattern);
  const parts = abs.split(sep);
  const firstWild = parts.findIndex((p) => /[*?]/.test(p));
  if (firstWild < 0) return [abs];
  const root = parts.slice(0, firstWild).join(sep) || sep;
  const re = globToRegExp(parts.slice(firstWild).join('/'));
  const all: string[] = [];
  await walk(root, all);
  return all.filter((p) => re.test(relative(root, p).split(sep).join('/')));
}

/** Resolves each source to its file list; unreadable folders and lists become issues, not exceptions. */
export async function resolvePool(configs: UnlabeledSourceConfig[], baseDir: string): Promise<{ sources: UnlabeledSource[]; issues: LabelIssue[] }> {
  const sources: UnlabeledSource[] = [];
  const issues: LabelIssue[] = [];
  const names = new Set<string>();
  for (const cfg of configs) {
    const where = `unlabeled source '${cfg.name}'`;
    const given = [cfg.dir, cfg.glob, cfg.list].filter((x) => x !== undefined).length;
    if (given !== 1) {
      issues.push({ file: where, line: 0, message: 'needs exactly one of dir, glob, list' });
      continue;
    }
    if (names.has(cfg.name)) issues.push({ file: where, line: 0, message: 'duplicate source name' });
    names.add(cfg.name);
    const weight = cfg.weight ?? 1;
    if (!(weight > 0 && Number.isFinite(weight))) {
      issues.push({ file: where, line: 0, message: `weight must be a positive number, got ${cfg.weight}` });
      continue;
    }
    const files: string[] = [];
    try {
      if (cfg.dir !== undefined) {
        const d = resolve(baseDir, cfg.dir);
        if (!(await stat(d)).isDirectory()) throw new Error(`${d} is not a folder`);
        await walk(d, files);
      } else if (cfg.glob !== undefined) {
        files.push(...(await expandGlob(cfg.glob, baseDir)));
      } else {
        const listFile = resolve(baseDir, cfg.list!);
        const listDir = resolve(listFile, '..');
        const text = await readFile(listFile, 'utf8');
        text.split(/\r?\n/).forEach((raw) => {
          const t = raw.trim();
          if (t !== '' && !t.startsWith('#')) files.push(resolve(listDir, t));
        });
      }
    } catch (e) {
      issues.push({ file: where, line: 0, message: (e as Error).message });
      continue;
    }
    if (files.length === 0) issues.push({ file: where, line: 0, message: 'no image files found' });
    else sources.push({ name: cfg.name, weight, files });
  }
  return { sources, issues };
}

export interface PoolItem {
  source: string;
  path: string;
}

/**
 * One epoch of `count` items (default: every file once on average): each draw
 * picks a source with probability weight / Σ weights, then the next file of
 * that source's per-epoch shuffle, cycling when it runs out.
 */
export function poolEpoch(sources: UnlabeledSource[], seed: number, epoch: number, count?: number): PoolItem[] {
  if (sources.length === 0) return [];
  const n = count ?? sources.reduce((a, s) => a + s.files.length, 0);
  const rng = Rng.for(seed, epoch, 0x706f6f6c);
  const total = sources.reduce((a, s) => a + s.weight, 0);
  const orders = sources.map((s, i) => Rng.for(seed, epoch, i, 0x6f726472).shuffle(s.files.map((_, j) => j)));
  const cursors = sources.map(() => 0);
  const out: PoolItem[] = [];
  for (let t = 0; t < n; t++) {
    let u = rng.uniform() * total;
    let i = 0;
    while (i < sources.length - 1 && u >= sources[i]!.weight) u -= sources[i++]!.weight;
    const s = sources[i]!;
    const order = orders[i]!;
    out.push({ source: s.name, path: s.files[order[cursors[i]! % order.length]!]! });
    cursors[i] = cursors[i]! + 1;
  }
  return out;
}
