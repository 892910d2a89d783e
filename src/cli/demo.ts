import { parseArgs } from 'node:util';

import { clipFeatures } from '../train/features.js';
import { formatDemoTable, runDemo } from '../train/demo.js';
import { printEvents } from './events.js';

export const usage = `cskd demo [--seeds N] [--out DIR] [--json]
  The whole method on embedded synthetic data, on the CPU: alignment to a
  frozen encoder (an offline STAND-IN for CLIP), the teacher, the student and
  its baselines; SRCC/PLCC on the test split (mean ± spread over seeds).`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { seeds: { type: 'string', default: '1' }, out: { type: 'string', default: 'runs' }, json: { type: 'boolean', default: false } },
  });
  const seeds = Number(values.seeds);
  if (!Number.isInteger(seeds) || seeds < 1 || seeds > 20) throw new Error(`--seeds must be an integer from 1 to 20, got '${values.seeds}'`);
  const t0 = performance.now();
  const result = await runDemo({ seeds, root: values.out, features: clipFeatures, onEvent: printEvents() });
  const seconds = (performance.now() - t0) / 1000;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ runDir: result.runDir.path, seconds, seeds: result.seeds, rows: result.rows }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(
    `\nTest split of the SYNTHETIC demo data (scores from a degradation formula; the frozen encoder is a STAND-IN, not CLIP):\n\n` +
      `${formatDemoTable(result)}\n\nrun directory: ${result.runDir.path} (${seconds.toFixed(0)} s)\n`,
  );
  return 0;
}
