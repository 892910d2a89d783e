// What `cskd train`, `align`, `finetune` and `distill` share: a config file,
// an optional run directory to continue, and the run prepared from them.
import type { Command } from 'commander';

import { world } from '../dist/world.js';
import { RunDir } from '../run/run_dir.js';
import type { Precision } from '../ops/precision.js';
import { type TrainConfig, loadTrainConfig } from '../train/config.js';
import { clipFeatures } from '../train/features.js';
import { type RunContext, configBaseDir, prepareRun } from '../train/pipeline.js';
import { printTrainEvents } from './train_output.js';
import { deviceOption, globals, precisionOption } from './options.js';

/** The config argument and --run-dir, added to a phase command. */
export function phaseCommand(program: Command, name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .argument('<config>', 'training config, .json or .yaml (docs/training.md)')
    .option('--run-dir <dir>', 'continue in this run directory (resumes from its last checkpoints); default: a new one under config.output')
    .addOption(deviceOption("where to train: 'cpu', 'cuda' (device 0) or 'cuda:N' (default: the config's device)"))
    .addOption(precisionOption());
}

/** The command line's --device and --precision over the config's. */
export function applyDeviceOptions(config: TrainConfig, opts: { device?: string; precision?: string }): TrainConfig {
  if (opts.device) config.device = opts.device;
  if (opts.precision) config.precision = opts.precision as Precision;
  return config;
}

export async function preparePhaseRun(configPath: string, opts: { runDir?: string; device?: string; precision?: string }, cmd: Command): Promise<RunContext> {
  const config = applyDeviceOptions(loadTrainConfig(configPath), opts);
  return prepareRun(config, {
    baseDir: configBaseDir(configPath),
    features: clipFeatures,
    // Under several ranks rank 0 alone prints: the others would repeat it.
    onEvent: printTrainEvents({ quiet: globals(cmd).quiet === true || world().rank !== 0 }),
    ...(opts.runDir ? { runDir: new RunDir(opts.runDir) } : {}),
  });
}
