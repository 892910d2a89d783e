import type { Command } from 'commander';

import { formatProbeTable, probeModel } from '../train/probe_run.js';
import { action, addJsonOption, collect, globals } from './options.js';

export function registerProbe(program: Command): void {
  addJsonOption(
    program
      .command('probe')
      .description(
        'the transfer probe: a closed-form ridge regression from features to the mean score, fitted on the train split (λ by 5-fold cross-validation), ' +
          'SRCC with a bootstrap 95% interval on the other splits; tells whether the features know the labels before any fine-tuning',
      )
      .requiredOption('--model <model>', "a cskd model or checkpoint (.safetensors: its pooled encoder features), a frozen encoder ('standin', an ONNX file or folder, CLIP safetensors) or a feature store folder")
      .requiredOption('--data <dataset>', 'dataset config (.json)')
      .option('--train <split>', 'the split the probe is fitted on', 'train')
      .option('--eval <split>', 'a split to score on (repeatable; default: every other split)', collect)
      .option('--store <dir>', "where a frozen encoder's embeddings of the labeled images are kept (default: features/<model> beside the dataset config)"),
  ).action(
    action(async (opts: { model: string; data: string; train: string; eval?: string[]; store?: string; json?: boolean }, cmd: Command) => {
      const quiet = globals(cmd).quiet === true;
      const r = await probeModel({
        model: opts.model,
        data: opts.data,
        train: opts.train,
        ...(opts.eval ? { evals: opts.eval } : {}),
        ...(opts.store ? { store: opts.store } : {}),
        log: (m) => {
          if (!quiet) process.stderr.write(`${m}\n`);
        },
      });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ model: opts.model, source: r.source, train: opts.train, results: r.rows }, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${r.source}\nfitted on '${opts.train}'; SRCC [bootstrap 95% interval]:\n\n${formatProbeTable(r.rows)}\n`);
    }),
  );
}
