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
    .action(
      action(async (outDir: string, opts: { seed: number; sources: number }) => {
        const s = await generateDemo({ outDir, seed: opts.seed, sources: opts.sources });
        process.stdout.write(
          `${s.config}: SYNTHETIC demo data, ${s.train} train / ${s.test} test labeled images; unlabeled ${s.unlabeled.map((u) => `${u.name} (${u.files})`).join(', ')}` +
            `${s.photoPackages.length ? `; photos from ${s.photoPackages.join(', ')}` : ''}\n`,
        );
      }),
    );
}
