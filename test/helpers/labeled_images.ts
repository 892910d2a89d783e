// Generated labeled images for training tests: an image's brightness sets its
// score, so every phase has something learnable.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { LabeledSplit } from '../../src/data/datasets.js';
import type { Rng } from '../../src/util/rng.js';
import { encodePng } from '../data/images.js';

/** A noisy size × size PNG of one brightness; returns its path and the score in [1, 5] it stands for. */
export function brightnessImage(dir: string, name: string, rng: Rng, size: number): { path: string; score: number } {
  const level = rng.uniform();
  const px: number[] = [];
  for (let i = 0; i < size * size; i++) {
    const v = Math.max(0, Math.min(255, Math.round(255 * level + 30 * rng.normal())));
    px.push(v, v, Math.round(v * 0.8));
  }
  const path = join(dir, `${name}.png`);
  writeFileSync(path, encodePng(px, size, size, 2, 8));
  return { path, score: 1 + 4 * level };
}

/** A split whose label distributions are Gaussian bumps around each image's score. */
export function labeledSplit(name: string, imgs: { path: string; score: number }[], bins: readonly number[]): LabeledSplit {
  const samples = imgs.map((im, i) => ({
    id: `${name}${i}`,
    path: im.path,
    distribution: Float64Array.from(bins, (b) => Math.exp(-0.5 * (b - im.score) ** 2)).map((v, _, a) => v / a.reduce((s, x) => s + x, 0)),
    mean: im.score,
    votes: null,
    file: 'labels.csv',
    line: i + 2,
  }));
  return { name, format: 'csv' as LabeledSplit['format'], bins: [...bins], samples, issues: [] };
}
