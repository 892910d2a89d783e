// What `cskd align`, `cskd finetune` and `cskd distill` share: a config file,
// an optional run directory to continue, and the run prepared from them.
import { parseArgs } from 'node:util';

import { clipFeatures } from '../train/features.js';
import { loadTrainConfig } from '../train/config.js';
import { configBaseDir, prepareRun, type RunContext } from '../train/pipeline.js';
import { RunDir } from '../run/run_dir.js';
import { printEvents } from './events.js';

export async function preparePhaseCommand(argv: string[], models: string[]): Promise<{ ctx: RunContext; values: Record<string, string | undefined> }> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'run-dir': { type: 'string' }, ...Object.fromEntries(models.map((m) => [m, { type: 'string' as const }])) },
  });
  const path = positionals[0];
  if (!path) throw new Error('a config file is required (see docs/training.md)');
  const config = loadTrainConfig(path);
  const runDir = values['run-dir'] as string | undefined;
  const ctx = await prepareRun(config, {
    baseDir: configBaseDir(path),
    features: clipFeatures,
    onEvent: printEvents(),
    ...(runDir ? { runDir: new RunDir(runDir) } : {}),
  });
  return { ctx, values: values as Record<string, string | undefined> };
}
