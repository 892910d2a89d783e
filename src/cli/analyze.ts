import type { Command } from 'commander';

import {
  type AnalyzedEncoder,
  analyzeAttention,
  encoderAtInit,
  encoderFromCheckpoint,
  encoderFromClip,
  selectImages,
  summarizeAttention,
  writeAttentionAnalysis,
} from '../eval/attention_analysis.js';
import { parseDevice } from '../tensor/device_memory.js';
import { action, addJsonOption, collect, deviceOption, finiteNumber, positiveInt } from './options.js';

/** "label=path" → [label, path]; a plain path → [undefined, path]. */
function named(spec: string): [string | undefined, string] {
  const eq = spec.indexOf('=');
  if (eq > 0 && !/[\\/]/.test(spec.slice(0, eq))) return [spec.slice(0, eq), spec.slice(eq + 1)];
  return [undefined, spec];
}

interface AnalyzeOptions {
  images: string[];
  n: number;
  out: string;
  patchPx?: number;
  batchSize: number;
  device?: string;
  json?: boolean;
}

export function registerAnalyze(program: Command): void {
  // Encoders in command-line order across --model, --clip and --init: that is the order of the panels.
  let encoders: AnalyzedEncoder[] = [];
  const encoder = (make: (label: string | undefined, what: string) => AnalyzedEncoder) => (value: string) => {
    const [label, what] = named(value);
    encoders.push(make(label, what));
    return value;
  };
  const cmd = program
    .command('analyze')
    .description('mean attention distance (pixels) and entropy per layer and head over N images, for several encoders at once; writes attention.json, attention.svg and attention.png')
    .option('--model <[name=]checkpoint>', 'a cskd checkpoint of any phase (repeatable)', encoder((l, w) => encoderFromCheckpoint(w, l)))
    .option('--clip <[name=]file>', 'a CLIP vision tower in safetensors (repeatable)', encoder((l, w) => encoderFromClip(w, l)))
    .option('--init <[name=]preset>', 'a ViT preset at its initialisation, e.g. vit-demo-s (repeatable)', encoder((l, w) => encoderAtInit(w, 0, l)))
    .requiredOption('--images <source>', 'a folder, a glob, a list file or an image (repeatable)', collect)
    .option('-n <images>', 'images to average over', positiveInt, 64)
    .requiredOption('--out <dir>', 'where to write the figures and numbers')
    .option('--patch-px <px>', "pixels per patch step in the distance (default: each encoder's own patch size)", finiteNumber)
    .option('--batch-size <n>', 'images per forward', positiveInt, 16)
    .addOption(deviceOption("where the forwards run: 'cpu' (default), 'cuda' or 'cuda:N'"));
  addJsonOption(cmd).action(
    action(async (opts: AnalyzeOptions) => {
      const chosen = encoders;
      encoders = [];
      if (chosen.length === 0) throw new Error('give at least one --model, --clip or --init');
      const images = await selectImages(opts.images, { count: opts.n });
      const analysis = await analyzeAttention(chosen, images, { ...(opts.patchPx !== undefined ? { patchPx: opts.patchPx } : {}), batchSize: opts.batchSize, ...(opts.device ? { device: parseDevice(opts.device) } : {}) });
      const out = await writeAttentionAnalysis(analysis, opts.out);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ...out, ...analysis }, null, 2)}\n`);
        return;
      }
      const skipped = Object.keys(analysis.skipped).length;
      const lines = summarizeAttention(analysis).map(
        (m) =>
          `  ${m.name}: ${m.depth} layers × ${m.heads} heads; distance ${m.distance.mean.toFixed(1)} px (last layer ${m.distance.lastLayer.toFixed(1)}), ` +
          `entropy ${m.entropy.mean.toFixed(2)} nats (last layer ${m.entropy.lastLayer.toFixed(2)})`,
      );
      process.stdout.write(
        `attention over ${analysis.models[0]?.images ?? 0} images${skipped ? ` (${skipped} unreadable, listed in attention.json)` : ''}:\n${lines.join('\n')}\n` +
          `wrote ${out.json}, ${out.svg}, ${out.png}\n`,
      );
    }),
  );
}
