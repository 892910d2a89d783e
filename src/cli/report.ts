import { parseArgs } from 'node:util';

import { writeRunReport } from '../eval/report.js';

export const usage = `cskd report <runDir> [--out FILE] [--no-predictions] [--no-attention] [-n 32]
  A self-contained HTML report of a run (or a demo) directory: test results (the
  ablation table over seeds), training curves, predicted-vs-true scatter and
  score histograms on the test split, attention per head against depth, the
  config and the environment. Writes runDir/report.html.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      'no-predictions': { type: 'boolean', default: false },
      'no-attention': { type: 'boolean', default: false },
      n: { type: 'string', short: 'n', default: '32' },
    },
  });
  if (positionals.length !== 1) throw new Error('give exactly one run directory');
  const n = Number(values.n);
  if (!Number.isInteger(n) || n < 1) throw new Error(`-n must be a positive integer, got '${values.n}'`);
  const out = await writeRunReport(positionals[0] as string, {
    predictions: !values['no-predictions'],
    attention: !values['no-attention'],
    attentionImages: n,
    ...(values.out ? { out: values.out } : {}),
  });
  process.stdout.write(`wrote ${out}\n`);
  return 0;
}
