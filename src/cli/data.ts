import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

import type { Command } from 'commander';

import { checkDataset, checkPassed, formatCheckReport } from '../data/check.js';
import { generateDemo } from '../data/demo.js';
import { action, addJsonOption, integer, positiveInt } from './options.js';

export function registerData(program: Command): void {
  const data = program.command('data').description('check a dataset, or write the demo dataset');
  addJsonOption(
    data
      .command('check')
      .description('validate a dataset config: every label row (file:line) and every image it names (missing, zero-byte, truncated, not an image, too large, unreadable); exit 1 on any problem')
      .argument('<dataset>', 'dataset config (.json)')
      .option('--max-pixels <n>', 'refuse larger images', positiveInt),
  ).action(
    action(async (config: string, opts: { json?: boolean; maxPixels?: number }) => {
      const report = await checkDataset(config, { maxPixels: opts.maxPixels });
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatCheckReport(report)}\n`);
      return checkPassed(report) ? 0 : 1;
    }),
  );
  data
    .command('demo')
    .description('write the SYNTHETIC demo dataset (degraded procedural images and photos scored by formula; docs/data.md)')
    .argument('<outDir>', 'where to write it')
    .option('--seed <n>', 'generator seed', integer(0), 0)
    .option('--sources <n>', 'procedural source images', integer(0), 24)
    .option('--variants <n>', 'labeled variants per source, the first undegraded', positiveInt, 6)
    .option('--unlabeled <n>', 'images in each unlabeled source', integer(0), 24)
    .option('--photos <list>', 'a file listing more photos to use as sources, one path a line (relative to the list file; # comments)')
    .option('--full-resolution', 'degrade the photos at their own resolution rather than at a 256-px long side')
    .action(
      action(async (outDir: string, opts: { seed: number; sources: number; variants: number; unlabeled: number; photos?: string; fullResolution?: boolean }) => {
        const photoFiles = opts.photos ? await readPhotoList(opts.photos) : [];
        const s = await generateDemo({ outDir, seed: opts.seed, sources: opts.sources, variants: opts.variants, unlabeledPerSource: opts.unlabeled, photoFiles, fullResolution: opts.fullResolution === true });
        process.stdout.write(
          `${s.config}: SYNTHETIC demo data, ${s.train} train / ${s.test} test labeled images; unlabeled ${s.unlabeled.map((u) => `${u.name} (${u.files})`).join(', ')}` +
            `${s.photoPackages.length ? `; photos from ${s.photoPackages.join(', ')}` : ''}${s.photoFiles ? `; ${s.photoFiles} photos from ${opts.photos}` : ''}\n`,
        );
      }),
    );
}

/** The photo list: one path a line, relative to the list's folder; blank lines and # comments skipped. */
export async function readPhotoList(list: string): Promise<string[]> {
  const lines = (await readFile(list, 'utf8')).split('\n').map((l) => l.trim());
  const files = lines.filter((l) => l !== '' && !l.startsWith('#')).map((l) => resolve(dirname(list), l));
  if (files.length === 0) throw new Error(`${list}: lists no photos`);
  return files;
}
