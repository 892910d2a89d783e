import type { Command } from 'commander';

import { findSplit, loadDataset } from '../data/datasets.js';
import { evaluateModelFile } from '../score/evaluate.js';
import { action, addJsonOption, deviceOption, threadsOption } from './options.js';
import { formatResultTable } from './table.js';

export function registerEval(program: Command): void {
  addJsonOption(
    program
      .command('eval')
      .description('SRCC, PLCC, KRCC, RMSE, MAE, binary accuracy and EMD of a model on a labeled split')
      .requiredOption('--model <file>', 'a cskd checkpoint (.safetensors, native engine) or an exported model (.onnx, onnxruntime)')
      .requiredOption('--data <dataset>', 'dataset config (.json)')
      .option('--split <name>', 'the labeled split to score', 'test')
      .addOption(threadsOption('onnxruntime threads for an .onnx model (default: one per core)'))
      .addOption(deviceOption("where a checkpoint runs: 'cpu' (default), 'cuda' or 'cuda:N' (an .onnx model runs on onnxruntime's CPU provider)")),
  ).action(
    action(async (opts: { model: string; data: string; split: string; threads?: number; device?: string; json?: boolean }) => {
      const ds = await loadDataset(opts.data);
      const split = findSplit(ds, opts.split, 'evaluation');
      const { report, skipped } = await evaluateModelFile(opts.model, split, { threshold: ds.threshold, ...(opts.threads ? { threads: opts.threads } : {}), ...(opts.device ? { device: opts.device } : {}) });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ model: opts.model, split: split.name, ...report, skipped: Object.fromEntries(skipped) }, null, 2)}\n`);
      } else {
        process.stdout.write(`${formatResultTable([{ name: `${opts.model} on ${split.name}`, report }])}\n`);
        if (skipped.size > 0) process.stdout.write(`${skipped.size} images skipped (unreadable); --json lists them\n`);
      }
    }),
  );
}
