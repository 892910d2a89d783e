import type { Command } from 'commander';

import { world } from '../dist/world.js';
import { RunDir } from '../run/run_dir.js';
import { loadTrainConfig } from '../train/config.js';
import { clipFeatures } from '../train/features.js';
import { configBaseDir, train } from '../train/pipeline.js';
import { formatProbeTable } from '../train/probe_run.js';
import { action, addJsonOption, globals } from './options.js';
import { applyDeviceOptions, phaseCommand } from './phase_args.js';
import { formatResultTable } from './table.js';
import { printTrainEvents } from './train_output.js';

export function registerTrain(program: Command): void {
  addJsonOption(phaseCommand(program, 'train', 'every phase from one config: both alignments, the teacher, the student and the baselines, then scores on the test split')).action(
    action(async (configPath: string, opts: { runDir?: string; device?: string; precision?: string; json?: boolean }, cmd: Command) => {
      const config = applyDeviceOptions(loadTrainConfig(configPath), opts);
      const result = await train(config, {
        baseDir: configBaseDir(configPath),
        features: clipFeatures,
        // Under several ranks rank 0 alone prints: the others would repeat it.
        onEvent: printTrainEvents({ quiet: globals(cmd).quiet === true || world().rank !== 0 }),
        ...(opts.runDir ? { runDir: new RunDir(opts.runDir) } : {}),
      });
      if (!result.runDir.writer) return;
      if (opts.json) process.stdout.write(`${JSON.stringify({ runDir: result.runDir.path, results: result.rows, probes: result.probes }, null, 2)}\n`);
      else {
        // The probe table beside the scores: whether the frozen encoder knew the labels and how much alignment passed on.
        const probe = result.probes.length > 0 ? `\n\nTransfer probe after phase 1 (ridge from pooled features to the mean score, fitted on the train split; bootstrap 95% interval):\n${formatProbeTable(result.probes)}` : '';
        process.stdout.write(`${formatResultTable(result.rows)}${probe}\n\nrun directory: ${result.runDir.path}\nstudent: ${result.runDir.model('student', 'onnx')}\n`);
      }
    }),
  );
}
