import { parseArgs } from 'node:util';

import {
  type AnalyzedEncoder,
  analyzeAttention,
  encoderAtInit,
  encoderFromCheckpoint,
  encoderFromClip,
  selectImages,
  writeAttentionAnalysis,
} from '../eval/attention_analysis.js';

export const usage = `cskd analyze --model [NAME=]A.safetensors [--model ...] [--clip [NAME=]clip.safetensors] [--init PRESET]
             --images <folder|glob|list|image> [--images ...] [-n 64] --out DIR [--patch-px P] [--batch-size 16] [--json]
  Mean attention distance (pixels) and entropy per layer and head over N images,
  for several encoders at once (cskd checkpoints of any phase, a CLIP vision
  tower, a preset at initialisation): attention.json, attention.svg, attention.png.`;

/** "label=path" → [label, path]; a plain path → [undefined, path]. */
function named(spec: string): [string | undefined, string] {
  const eq = spec.indexOf('=');
  if (eq > 0 && !/[\\/]/.test(spec.slice(0, eq))) return [spec.slice(0, eq), spec.slice(eq + 1)];
  return [undefined, spec];
}

function positiveInt(flag: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got '${v}'`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const { values, tokens } = parseArgs({
    args: argv,
    tokens: true,
    options: {
      model: { type: 'string', multiple: true, default: [] },
      clip: { type: 'string', multiple: true, default: [] },
      init: { type: 'string', multiple: true, default: [] },
      images: { type: 'string', multiple: true, default: [] },
      n: { type: 'string', short: 'n', default: '64' },
      out: { type: 'string' },
      'patch-px': { type: 'string' },
      'batch-size': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.model.length + values.clip.length + values.init.length === 0) throw new Error('give at least one --model, --clip or --init');
  if (values.images.length === 0) throw new Error('--images is required (a folder, a glob, a list file or an image)');
  if (!values.out) throw new Error('--out is required');
  // Encoders in command-line order: that is the order of the panels.
  const encoders: AnalyzedEncoder[] = [];
  for (const t of tokens) {
    if (t.kind !== 'option' || t.value === undefined || !['model', 'clip', 'init'].includes(t.name)) continue;
    const [label, what] = named(t.value);
    if (t.name === 'model') encoders.push(encoderFromCheckpoint(what, label));
    else if (t.name === 'clip') encoders.push(encoderFromClip(what, label));
    else encoders.push(encoderAtInit(what, 0, label));
  }
  const images = await selectImages(values.images, { count: positiveInt('-n', values.n, 64) });
  const patchPx = values['patch-px'] === undefined ? undefined : Number(values['patch-px']);
  const analysis = await analyzeAttention(encoders, images, {
    ...(patchPx !== undefined ? { patchPx } : {}),
    batchSize: positiveInt('--batch-size', values['batch-size'], 16),
  });
  const out = await writeAttentionAnalysis(analysis, values.out);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ...out, ...analysis }, null, 2)}\n`);
    return 0;
  }
  const skipped = Object.keys(analysis.skipped).length;
  const lines = analysis.models.map((m) => {
    const mean = (rows: number[][]) => rows.flat().reduce((a, b) => a + b, 0) / rows.flat().length;
    const last = (rows: number[][]) => mean([rows[rows.length - 1] ?? []]);
    return `  ${m.name}: ${m.depth} layers × ${m.heads} heads; distance ${mean(m.distance).toFixed(1)} px (last layer ${last(m.distance).toFixed(1)}), entropy ${mean(m.entropy).toFixed(2)} nats (last layer ${last(m.entropy).toFixed(2)})`;
  });
  process.stdout.write(
    `attention over ${analysis.models[0]?.images ?? 0} images${skipped ? ` (${skipped} unreadable, listed in attention.json)` : ''}:\n${lines.join('\n')}\n` +
      `wrote ${out.json}, ${out.svg}, ${out.png}\n`,
  );
  return 0;
}
