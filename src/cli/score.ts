// cskd score: a thin shell over expandInputs + Scorer + scoreFiles.
import { availableParallelism } from 'node:os';

import type { Command } from 'commander';

import { expandInputs, parseShard } from '../score/inputs.js';
import { scoreFiles, type ScoreFilesSummary } from '../score/files.js';
import { Scorer } from '../score/scorer.js';
import { ProgressReporter } from '../util/progress.js';
import { action, globals, positiveInt, threadsOption } from './options.js';

interface ScoreOptions {
  model: string;
  out: string;
  shard?: string;
  batchSize?: number;
  threads?: number;
  concurrency?: number;
  maxPixels?: number;
  retryErrors?: boolean;
}

function summaryText(s: ScoreFilesSummary, out: string, shardText: string | null): string {
  const kinds = Object.entries(s.errorsByKind)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const parts = [
    `${s.done} images in ${s.seconds.toFixed(1)} s (${s.imagesPerSecond.toFixed(1)} img/s): ${s.done - s.errors} scored, ${s.errors} errors${kinds ? ` (${kinds})` : ''}`,
  ];
  if (s.skipped > 0) parts.push(`${s.skipped} already done`);
  if (shardText) parts.push(`shard ${shardText}: ${s.inShard} of ${s.inputs} inputs`);
  if (s.truncatedBytes > 0) parts.push(`cut a torn last row of ${s.truncatedBytes} bytes`);
  if (s.retried > 0) parts.push(`${s.retried} earlier errors retried`);
  return `${s.interrupted ? 'interrupted: ' : ''}${parts.join('; ')} → ${out}`;
}

export function registerScore(program: Command): void {
  program
    .command('score')
    .description('score images with an exported model into a .csv or .jsonl file, appending as it goes; rerun the same command to resume. Bad images get a row whose error names the problem; exit 0 unless the run itself fails')
    .argument('<inputs...>', 'image paths, folders (walked recursively), globs, or @listfile')
    .requiredOption('-m, --model <file>', 'ONNX model exported by cskd')
    .requiredOption('-o, --out <file>', 'result file: .csv (path, mean, std, p_<bin>…, error) or .jsonl')
    .option('--shard <i/n>', 'score only shard i of n (0-based; by hash of the path)')
    .option('--batch-size <n>', 'images per model call (default 16)', positiveInt)
    .addOption(threadsOption('onnxruntime threads (default: one per core)'))
    .option('--concurrency <n>', 'images decoding at once (default: cores, at least 2)', positiveInt)
    .option('--max-pixels <n>', 'refuse larger images (default 50000000)', positiveInt)
    .option('--retry-errors', 'score again the images whose earlier rows hold an error')
    .action(
      action(async (inputs: string[], opts: ScoreOptions, cmd: Command) => {
        const shard = opts.shard !== undefined ? parseShard(opts.shard) : null;
        const { files, empty } = await expandInputs(inputs);
        const quiet = globals(cmd).quiet === true;
        for (const arg of empty) process.stderr.write(`cskd score: warning: no image files in ${arg}\n`);
        if (files.length === 0) throw new Error('no image files found in the inputs');
        const scorer = await Scorer.load(opts.model, {
          threads: opts.threads ?? availableParallelism(),
          ...(opts.batchSize !== undefined ? { maxBatch: opts.batchSize } : {}),
          ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
        });
        const abort = new AbortController();
        const onSignal = (): void => {
          if (abort.signal.aborted) process.exit(130);
          process.stderr.write('\ncskd score: stopping after the images in progress (again to quit now)\n');
          abort.abort();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        let progress: ProgressReporter | null = null; // made at the first report, which knows the shard's size
        try {
          const summary = await scoreFiles(scorer, files, {
            out: opts.out,
            shard,
            retryErrors: opts.retryErrors === true,
            signal: abort.signal,
            onProgress: (p) => {
              progress ??= new ProgressReporter({ label: 'scored', total: p.total, quiet });
              progress.update({ done: p.done, text: `· ${p.errors} errors` });
            },
            ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
            ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
          });
          const text = summaryText(summary, opts.out, opts.shard ?? null);
          // The summary is the result: it prints under --quiet too.
          if (progress && !quiet) (progress as ProgressReporter).finish(text);
          else process.stderr.write(`${text}\n`);
          return summary.interrupted ? 130 : 0;
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          await scorer.release();
        }
      }),
    );
}
