// What `cskd train`, `align`, `finetune` and `distill` share: a config file,
// an optional run directory to continue, and the run prepared from them.
import type { Command } from 'commander';

import { RunDir } from '../run/run_dir.js';
import { loadTrainConfig } from '../train/config.js';
import { clipFeatures } from '../train/features.js';
import { type RunContext, configBaseDir, prepareRun } from '../train/pipeline.js';
import { printTrainEvents } from './train_output.js';
import { deviceOption, globals } from './options.js';

/** The config argument and --run-dir, added to a phase command. */
export function phaseCommand(program: Command, name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .argument('<config>', 'training config, .json or .yaml (docs/training.md)')
    .option('--run-dir <dir>', 'continue in this run directory (resumes from its last checkpoints); default: a new one under config.output')
    .addOption(deviceOption("where to train: 'cpu', 'cuda' (device 0) or 'cuda:N' (default: the config's device)"));
}

export async function preparePhaseRun(configPath: string, opts: { runDir?: string; device?: string }, cmd: Command): Promise<RunContext> {
  const config = loadTrainConfig(configPath);
  if (opts.device) config.device = opts.device;
  return prepareRun(config, {
    baseDir: configBaseDir(configPath),
    features: clipFeatures,
    onEvent: printTrainEvents({ quiet: globals(cmd).quiet === true }),
    ...(opts.runDir ? { runDir: new RunDir(opts.runDir) } : {}),
  });
}
