// writeRunReport on small run directories built here: a training run (tiny
// models, a 6-image test split) and a two-seed demo directory. The report must
// be self-contained and show the numbers the directory holds.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import sharp from 'sharp';

import { describe, expect, it } from 'vitest';

import { writeRunReport } from '../../src/eval/report.js';
import { systemInfo } from '../../src/tensor/devices.js';
import { VIT_DEFAULTS, type VitConfig } from '../../src/nn/vit.js';
import { Model } from '../../src/model/model.js';
import { saveModel } from '../../src/model/io.js';
import { Rng } from '../../src/util/rng.js';
import { encodePng, tempDir } from '../data/images.js';

const tiny: VitConfig = { ...VIT_DEFAULTS, imgSize: 16, patchSize: 4, embedDim: 16, depth: 2, numHeads: 2 };

function jsonl(events: Record<string, unknown>[]): string {
  return events.map((e) => JSON.stringify(e)).join('\n') + '\n';
}

/** Self-contained: nothing the browser would fetch (scripts, styles, images, frames, url() other than #fragments). */
function expectSelfContained(html: string): void {
  expect(html).not.toMatch(/<(script|link|img|iframe)\b/i);
  expect(html).not.toMatch(/\b(src|href)\s*=/i);
  expect(html.match(/url\((?!#)/g)).toBeNull();
  // The only URL is the SVG namespace, an identifier that is never fetched.
  expect([...new Set(html.match(/https?:\/\/[^\s"'<>)]+/g) ?? [])]).toEqual(['http://www.w3.org/2000/svg']);
}

function attrs(html: string, tag: string, cls: string): Record<string, string>[] {
  return [...html.matchAll(new RegExp(`<${tag} class="${cls}"([^>]*)>`, 'g'))].map((m) => Object.fromEntries([...(m[1] as string).matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]])));
}

describe('writeRunReport', () => {
  it('reports a training run: results, curves, test-split scatter and histograms, attention, config, environment', async () => {
    const { dir, cleanup } = tempDir('cskd-report-');
    try {
      // A 6-image test split with mean-only labels on 1…5.
      const rng = new Rng(5);
      mkdirSync(join(dir, 'data', 'images'), { recursive: true });
      const means = [1.5, 2, 2.75, 3.5, 4, 4.5];
      const rows = ['path,mean'];
      means.forEach((m, i) => {
        const px = Array.from({ length: 20 * 18 * 3 }, () => Math.floor(rng.uniform() * 256));
        writeFileSync(join(dir, 'data', 'images', `img${i}.png`), encodePng(px, 20, 18, 2, 8));
        rows.push(`img${i}.png,${m}`);
      });
      writeFileSync(join(dir, 'data', 'labels.csv'), rows.join('\n') + '\n');
      const dataset = join(dir, 'data', 'dataset.json');
      writeFileSync(dataset, JSON.stringify({ name: 'tiny', labeled: { test: { format: 'csv', labels: 'labels.csv', images: 'images', columns: { path: 'path', mean: 'mean' }, bins: [1, 2, 3, 4, 5] } } }));

      const run = join(dir, 'run');
      mkdirSync(join(run, 'models'), { recursive: true });
      mkdirSync(join(run, 'checkpoints'), { recursive: true });
      writeFileSync(join(run, 'config.json'), JSON.stringify({ seed: 0, data: dataset, splits: { train: 'train', val: null, test: 'test' }, clip: { model: 'standin' }, student: { model: 'vit-demo-s' }, teacher: { model: 'vit-demo-m' } }));
      saveModel(join(run, 'models', 'student.safetensors'), new Model({ encoder: tiny, head: { kind: 'score', bins: 5 } }).init(new Rng(1)));
      saveModel(join(run, 'models', 'teacher.safetensors'), new Model({ encoder: { ...tiny, numHeads: 4 }, head: { kind: 'score', bins: 5 } }).init(new Rng(2)));
      saveModel(join(run, 'checkpoints', 'align-student-last.safetensors'), new Model({ encoder: tiny, head: { kind: 'projector', outDim: 8 } }).init(new Rng(3)));
      writeFileSync(
        join(run, 'metrics.jsonl'),
        jsonl([
          { event: 'epoch', phase: 'align-student', epoch: 0, losses: { align: 0.7 }, imagesPerSec: 100, waitFraction: 0.1 },
          { event: 'epoch', phase: 'align-student', epoch: 1, losses: { align: 0.4 }, imagesPerSec: 110, waitFraction: 0.1 },
          { event: 'epoch', phase: 'student', epoch: 0, losses: { labeled: 0.3, unlabeled: 0.2 }, imagesPerSec: 90, waitFraction: 0.2 },
          { event: 'epoch', phase: 'student', epoch: 1, losses: { labeled: 0.25, unlabeled: 0.1 }, metrics: { srcc: 0.4 }, imagesPerSec: 95, waitFraction: 0.25 },
          { event: 'test', model: 'student (aligned + unlabeled)', split: 'test', count: 6, srcc: 0.8123, plcc: 0.7456, krcc: 0.6, rmse: 1.1, mae: 0.9, accuracy: 0.5, emd: 0.2 },
        ]) + '{"torn line',
      );

      const out = await writeRunReport(run);
      expect(out).toBe(join(run, 'report.html'));
      const html = readFileSync(out, 'utf8');
      expectSelfContained(html);

      // The test events' table.
      expect(html).toContain('<td>student (aligned + unlabeled)</td><td class="num">test</td><td class="num">6</td><td class="num">0.812</td><td class="num">0.746</td>');
      // Curves: one panel per phase, a point per epoch (epochs 1-based), and the validation panel.
      expect(attrs(html, 'g', 'panel').filter((p) => p['data-title'] !== undefined).map((p) => p['data-title'])).toEqual(['align-student', 'student', 'student']);
      expect(html).toContain('data-x="2" data-y="0.4"');
      // Scatter: the student's and the teacher's, one point per test image at its label's mean.
      const points = attrs(html, 'circle', 'point').filter((p) => p['data-x'] !== undefined && Number(p['data-y']) >= 1);
      const scatterX = points.map((p) => Number(p['data-x'])).filter((x) => means.includes(x));
      expect(scatterX.sort((a, b) => a - b)).toEqual([...means, ...means].sort((a, b) => a - b));
      for (const p of points.filter((q) => means.includes(Number(q['data-x'])))) {
        // A predicted mean is an expectation over the bins.
        expect(Number(p['data-y'])).toBeGreaterThanOrEqual(1);
        expect(Number(p['data-y'])).toBeLessThanOrEqual(5);
      }
      // Histograms: the true means' bars hold every test image, once per model.
      const trueBars = attrs(html, 'rect', 'bar').filter((b) => b['data-series'] === '0');
      expect(trueBars.reduce((s, b) => s + Number(b['data-count']), 0)).toBe(2 * means.length);
      // Attention: the student preset at init (3 layers × 2 heads), after alignment (2 × 2), student (2 × 2), teacher (2 × 4).
      expect(attrs(html, 'circle', 'head-marker').length / 2).toBe(3 * 2 + 2 * 2 + 2 * 2 + 2 * 4);
      const analysis = JSON.parse(readFileSync(join(run, 'analysis', 'attention.json'), 'utf8')) as { models: { name: string; images: number }[] };
      expect(analysis.models.map((m) => [m.name, m.images])).toEqual([
        ['student encoder at init (before alignment)', 6],
        ['student encoder after alignment', 6],
        ['student (aligned + unlabeled)', 6],
        ['teacher', 6],
      ]);
      expect(existsSync(join(run, 'analysis', 'attention.png'))).toBe(true);
      // Config and environment.
      expect(html).toContain('&quot;model&quot;: &quot;vit-demo-s&quot;');
      expect(html).toContain(systemInfo().cpu.model);
      expect(html).toContain('STAND-IN');

      // The scored predictions were kept; a later report plots kept predictions instead of scoring again.
      const kept = JSON.parse(readFileSync(join(run, 'predictions', 'student.json'), 'utf8')) as { targets: number[]; means: number[]; paths: string[] };
      expect([...kept.targets].sort((a, b) => a - b)).toEqual(means);
      expect(kept.paths.length).toBe(6);
      writeFileSync(join(run, 'predictions', 'student.json'), JSON.stringify({ model: 'kept student', split: 'test', paths: ['a', 'b', 'c', 'd'], targets: [1, 2, 3, 4], means: [4.5, 3, 2.5, 1] }));
      const again = readFileSync(await writeRunReport(run, { attention: false }), 'utf8');
      // Reversed order: Spearman −1; Pearson of (1,2,3,4) with (4.5,3,2.5,1) is −0.98387 (by hand: Σdxdy = −5.5, √(5 · 6.25) = 5.590).
      expect(again).toContain('SRCC -1.000 · PLCC -0.984');
      expect(again).toContain('kept student: predicted vs true');
    } finally {
      cleanup();
    }
  });

  it('reports a demo directory: the ablation table as mean ± sample std over seeds, and every seed’s curves', async () => {
    const { dir, cleanup } = tempDir('cskd-report-');
    try {
      const report = (srcc: number, plcc: number) => ({ count: 10, srcc, plcc, krcc: 0, rmse: 1, mae: 1, accuracy: 0.5 });
      writeFileSync(
        join(dir, 'metrics.jsonl'),
        jsonl([{ event: 'demo', seeds: [0, 1], rows: [{ name: 'student (aligned + unlabeled)', reports: [report(0.5, 0.2), report(0.7, 0.3)] }, { name: 'teacher', reports: [report(0.6, 0.6), report(0.6, 0.6)] }] }]),
      );
      for (const seed of [0, 1]) {
        mkdirSync(join(dir, `seed-${seed}`));
        writeFileSync(join(dir, `seed-${seed}`, 'config.json'), JSON.stringify({ seed, clip: { model: 'standin' } }));
        writeFileSync(join(dir, `seed-${seed}`, 'metrics.jsonl'), jsonl([0, 1, 2].map((epoch) => ({ event: 'epoch', phase: 'teacher', epoch, losses: { emd: 0.3 - 0.05 * epoch + 0.01 * seed } }))));
      }
      const html = readFileSync(await writeRunReport(dir, { predictions: false, attention: false }), 'utf8');
      expectSelfContained(html);
      // Sample std of (0.5, 0.7) is 0.1414; of (0.2, 0.3) 0.0707; of (0.6, 0.6) 0.
      expect(html).toContain('<td>student (aligned + unlabeled)</td><td class="num">0.600 <span class="spread">± 0.141</span></td><td class="num">0.250 <span class="spread">± 0.071</span></td>');
      expect(html).toContain('<td>teacher</td><td class="num">0.600 <span class="spread">± 0.000</span></td>');
      expect(html).toContain('over 2 seeds');
      expect(attrs(html, 'g', 'series').map((s) => s['data-name'])).toEqual(['emd, seed 0', 'emd, seed 1']);
      expect(html).toContain('data-x="3" data-y="0.21"');
    } finally {
      cleanup();
    }
  });

  const chromium = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
  it.skipIf(!existsSync(chromium))('opens in headless Chromium with no network request, no empty plot and no sideways scroll (scripts/screenshot-report.mjs)', async () => {
    const { dir, cleanup } = tempDir('cskd-report-');
    try {
      writeFileSync(join(dir, 'metrics.jsonl'), jsonl([0, 1, 2].map((epoch) => ({ event: 'epoch', phase: 'teacher', epoch, losses: { emd: 0.3 - 0.05 * epoch } }))));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ seed: 0 }));
      const html = await writeRunReport(dir, { predictions: false, attention: false });
      const png = join(dir, 'shot.png');
      const r = spawnSync(process.execPath, ['scripts/screenshot-report.mjs', html, png, '--width', '1000'], { encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const meta = await sharp(png).metadata();
      expect(meta.width).toBe(1000);
    } finally {
      cleanup();
    }
  }, 60_000);

  it('refuses a directory that is not a run', async () => {
    const { dir, cleanup } = tempDir('cskd-report-');
    try {
      await expect(writeRunReport(dir)).rejects.toThrow(/not a run directory/);
    } finally {
      cleanup();
    }
  });
});
