import type { Command } from 'commander';

import { demoVerdict, formatDemoProbeTable, formatDemoTable, runDemo } from '../train/demo.js';
import { clipFeatures } from '../train/features.js';
import { action, addJsonOption, globals, integer } from './options.js';
import { printTrainEvents } from './train_output.js';

export function registerDemo(program: Command): void {
  addJsonOption(
    program
      .command('demo')
      .description("the whole method on embedded SYNTHETIC data, on the CPU: alignment to a frozen encoder (an offline STAND-IN for CLIP), the teacher, the student and its baselines, then SRCC/PLCC on the test split")
      .option('--seeds <n>', 'repeat with this many seeds and report mean ± spread', integer(1, 20), 1)
      .option('--out <dir>', 'parent of the run directory', 'runs'),
  ).action(
    action(async (opts: { seeds: number; out: string; json?: boolean }, cmd: Command) => {
      const t0 = performance.now();
      const result = await runDemo({ seeds: opts.seeds, root: opts.out, features: clipFeatures, onEvent: printTrainEvents({ quiet: globals(cmd).quiet === true }) });
      const seconds = (performance.now() - t0) / 1000;
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ runDir: result.runDir.path, seconds, seeds: result.seeds, rows: result.rows, probes: result.probes, align: result.align, student: result.student }, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `\nTest split of the SYNTHETIC demo data (scores from a degradation formula; the frozen encoder is a STAND-IN, not CLIP):\n\n` +
          `${formatDemoTable(result)}\n\n` +
          'SRCC (Spearman) measures how well each model ranks the test images by their true mean score, PLCC (Pearson) how linearly its predicted means follow the true ones; 1 is perfect, 0 is chance.\n\n' +
          `Transfer probe after phase 1 (ridge regression from pooled features to the mean score, fitted on the train split${result.seeds.length > 1 ? '' : '; bootstrap 95% interval'}):\n\n` +
          `${formatDemoProbeTable(result)}\n\n` +
          `${demoVerdict(result)}\n\n` +
          `run directory: ${result.runDir.path} (${seconds.toFixed(0)} s; report.html inside)\n` +
          `exported student: ${result.student}\n`,
      );
    }),
  );
}
