import type { Command } from 'commander';

import { writeRunReport } from '../eval/report.js';
import { action, positiveInt } from './options.js';

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('a self-contained HTML report of a run (or demo) directory: test results, training curves, predictions, attention per head, config and environment')
    .argument('<runDir>', 'a run directory of cskd train or cskd demo')
    .option('--out <file>', 'where to write (default: <runDir>/report.html)')
    .option('--no-predictions', "leave out the test split's scatter and histograms")
    .option('--no-attention', 'leave out the attention analysis')
    .option('-n <images>', 'images for the attention analysis', positiveInt, 32)
    .action(
      action(async (runDir: string, opts: { out?: string; predictions: boolean; attention: boolean; n: number }) => {
        const out = await writeRunReport(runDir, { predictions: opts.predictions, attention: opts.attention, attentionImages: opts.n, ...(opts.out ? { out: opts.out } : {}) });
        process.stdout.write(`wrote ${out}\n`);
      }),
    );
}
