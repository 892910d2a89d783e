import { parseArgs } from 'node:util';

import { loadDataset } from '../data/datasets.js';
import { evalView } from '../data/transforms.js';
import { evaluateSplit } from '../eval/evaluate.js';
import { evaluateOnnx } from '../score/evaluate.js';
import type { ScoreReport } from '../eval/metrics.js';
import { loadModel } from '../model/io.js';
import { formatResultTable } from './table.js';

export const usage = `cskd eval --model <checkpoint.safetensors|model.onnx> --data <dataset config> [--split test] [--json]
  SRCC, PLCC, KRCC, RMSE, MAE, binary accuracy and EMD on a labeled split.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      split: { type: 'string', default: 'test' },
      threads: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (!values.model || !values.data) throw new Error('--model and --data are required');
  const ds = await loadDataset(values.data);
  const split = ds.splits.find((s) => s.name === values.split);
  if (!split) throw new Error(`dataset '${ds.name}' has no split '${values.split}'; it has: ${ds.splits.map((s) => s.name).join(', ') || 'none'}`);
  let report: ScoreReport;
  let skipped: Map<string, string>;
  if (values.model.toLowerCase().endsWith('.onnx')) {
    ({ report, skipped } = await evaluateOnnx(values.model, split, { threshold: ds.threshold, ...(values.threads ? { threads: Number(values.threads) } : {}) }));
  } else {
    const model = loadModel(values.model);
    const ev = await evaluateSplit(model, split, evalView(model.config.encoder.imgSize), { threshold: ds.threshold });
    report = ev.report;
    skipped = ev.predictions.skipped;
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ model: values.model, split: split.name, ...report, skipped: Object.fromEntries(skipped) }, null, 2)}\n`);
  } else {
    process.stdout.write(`${formatResultTable([{ name: `${values.model} on ${split.name}`, report }])}\n`);
    if (skipped.size > 0) process.stdout.write(`${skipped.size} images skipped (unreadable); --json lists them\n`);
  }
  return 0;
}
