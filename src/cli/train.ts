import { parseArgs } from 'node:util';

import { clipFeatures } from '../train/features.js';
import { loadTrainConfig } from '../train/config.js';
import { configBaseDir, train } from '../train/pipeline.js';
import { RunDir } from '../run/run_dir.js';
import { printEvents } from './events.js';
import { formatResultTable } from './table.js';

export const usage = `cskd train <config.json|yaml> [--run-dir DIR] [--json]
  Every phase from one config: alignment of both encoders, the teacher, the
  student and the baselines; scores on the test split. --run-dir resumes a run.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'run-dir': { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const path = positionals[0];
  if (!path) throw new Error('a config file is required (see docs/training.md)');
  const config = loadTrainConfig(path);
  const result = await train(config, {
    baseDir: configBaseDir(path),
    features: clipFeatures,
    onEvent: printEvents(),
    ...(values['run-dir'] ? { runDir: new RunDir(values['run-dir']) } : {}),
  });
  if (values.json) process.stdout.write(`${JSON.stringify({ runDir: result.runDir.path, results: result.rows }, null, 2)}\n`);
  else process.stdout.write(`${formatResultTable(result.rows)}\n`);
  return 0;
}
