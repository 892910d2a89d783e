// A small scored image collection for the gallery tests: generated JPEGs,
// two score files (a "student" with one error row, a "teacher"), and a
// dataset.json whose labels are vote counts per bin. Scores follow Gaussians
// on 1…10 so each row's mean and std are what its distribution says; the true
// distribution is the votes over their total, computed here.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import sharp from 'sharp';

import { Rng } from '../../src/util/rng.js';

export const BINS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

export interface FixtureRow {
  path: string;
  mean: number;
  std: number;
  distribution: number[];
}

export interface Fixture {
  dir: string;
  student: string;
  teacher: string;
  dataset: string;
  /** Student rows that have a score (the error row left out). */
  studentRows: FixtureRow[];
  teacherRows: FixtureRow[];
  errorPath: string;
  /** True mean per path: Σ bin · votes / total, in float64. */
  labels: Map<string, number>;
  /** True distribution per path: votes / total. */
  labelDistributions: Map<string, number[]>;
}

function gaussian(m: number, s: number): number[] {
  const w = BINS.map((b) => Math.exp(-0.5 * ((b - m) / s) ** 2));
  const z = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / z);
}

function row(path: string, p: number[]): FixtureRow {
  const mean = p.reduce((a, x, i) => a + x * BINS[i]!, 0);
  const std = Math.sqrt(p.reduce((a, x, i) => a + x * (BINS[i]! - mean) ** 2, 0));
  return { path, mean: Number(mean.toPrecision(7)), std: Number(std.toPrecision(7)), distribution: p.map((x) => Number(x.toPrecision(7))) };
}

const header = `path,mean,std,${BINS.map((b) => `p_${b}`).join(',')},error`;
const csvLine = (r: FixtureRow) => [r.path, r.mean, r.std, ...r.distribution, ''].join(',');

/** n images in dir/img (sizes vary, one an image in name only), score files and labels. */
export async function makeFixture(dir: string, n: number, seed = 1): Promise<Fixture> {
  mkdirSync(join(dir, 'img'), { recursive: true });
  const rng = new Rng(seed);
  const studentRows: FixtureRow[] = [];
  const teacherRows: FixtureRow[] = [];
  const labels = new Map<string, number>();
  const labelDistributions = new Map<string, number[]>();
  const errorIndex = Math.min(5, n - 1);
  let errorPath = '';
  const lines = { s: [header], t: [header], l: [`path,${BINS.map((b) => `v${b}`).join(',')}`] };
  for (let i = 0; i < n; i++) {
    const path = `img/photo-${String(i).padStart(3, '0')}.jpg`;
    const w = 120 + Math.floor(rng.uniform() * 400);
    const h = 120 + Math.floor(rng.uniform() * 400);
    const colour = { r: Math.floor(rng.uniform() * 255), g: Math.floor(rng.uniform() * 255), b: Math.floor(rng.uniform() * 255) };
    if (i === errorIndex) writeFileSync(join(dir, path), 'not a jpeg');
    else await sharp({ create: { width: w, height: h, channels: 3, background: colour } }).jpeg({ quality: 70 }).toFile(join(dir, path));
    const truth = 2 + rng.uniform() * 6;
    const votes = gaussian(truth, 1.2).map((p) => Math.round(p * 200));
    const total = votes.reduce((a, b) => a + b, 0);
    labelDistributions.set(path, votes.map((v) => v / total));
    labels.set(path, votes.reduce((a, v, k) => a + v * BINS[k]!, 0) / total);
    lines.l.push(`${path},${votes.join(',')}`);
    if (i === errorIndex) {
      errorPath = path;
      lines.s.push(`${path},,,${BINS.map(() => '').join(',')},not-an-image: no image format recognised`);
    } else {
      const r = row(path, gaussian(truth + (rng.uniform() - 0.5) * 2, 0.8 + rng.uniform() * 1.5));
      studentRows.push(r);
      lines.s.push(csvLine(r));
    }
    const t = row(path, gaussian(truth + (rng.uniform() - 0.5) * 3, 0.8 + rng.uniform() * 1.5));
    teacherRows.push(t);
    lines.t.push(csvLine(t));
  }
  const student = join(dir, 'student.csv');
  const teacher = join(dir, 'teacher.jsonl');
  writeFileSync(student, `${lines.s.join('\n')}\n`);
  writeFileSync(teacher, teacherRows.map((r) => JSON.stringify({ ...r, error: null })).join('\n') + '\n');
  writeFileSync(join(dir, 'labels.csv'), `${lines.l.join('\n')}\n`);
  const dataset = join(dir, 'dataset.json');
  writeFileSync(dataset, JSON.stringify({ name: 'gallery-test', labeled: { test: { format: 'csv', labels: 'labels.csv', images: '.', columns: { path: 'path', histogram: BINS.map((b) => `v${b}`) }, counts: true, bins: BINS } } }));
  return { dir, student, teacher, dataset, studentRows, teacherRows, errorPath, labels, labelDistributions };
}

/**
 * What a walk out of the served roots would reach: secret.jpg and secret.js
 * in `root` (outside the images folder and the site), and symlinks to them
 * from inside both (images/img/link-out.jpg, site/assets/link-out.js).
 */
export function plantWalkOuts(root: string, images: string, site: string): void {
  writeFileSync(join(root, 'secret.jpg'), 'secret');
  writeFileSync(join(root, 'secret.js'), 'secret');
  symlinkSync(join(root, 'secret.jpg'), join(images, 'img', 'link-out.jpg'));
  symlinkSync(join(root, 'secret.js'), join(site, 'assets', 'link-out.js'));
}
