// Attention analysis: per layer and head, the mean attention distance (pixels)
// and the attention entropy of an encoder, averaged over N images — the
// paper's evidence that feature alignment relieves feature collapse (heads of
// a collapsed encoder all attend alike: short distances, low spread across
// heads). The numbers come from the native statistics kernel the attention
// blocks call when the forward context carries a recorder (formulas in
// docs/design.md: patch tokens only, softmax over all tokens, not renormalised).
//
// Several encoders are analysed on the same images; images are decoded once
// per distinct input (size, normalisation), with the deterministic eval view.
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

import { ImageLoader } from '../data/loader.js';
import { IMAGE_EXTENSIONS, type UnlabeledSourceConfig, resolvePool } from '../data/pool.js';
import { CLIP_NORMALIZATION, type Normalization, evalView } from '../data/transforms.js';
import { importClipVision } from '../nn/clip.js';
import { initParameters } from '../nn/init.js';
import type { AttentionStatsRecorder } from '../nn/module.js';
import { ParameterSet } from '../nn/parameters.js';
import { vitConfig } from '../nn/registry.js';
import { VisionTransformer } from '../nn/vit.js';
import { Arena } from '../tensor/arena.js';
import { type Device, parseDevice } from '../tensor/device_memory.js';
import { Tensor } from '../tensor/tensor.js';
import { loadModel } from '../model/io.js';
import { Rng } from '../util/rng.js';
import { attentionFigure, figureToPng } from './plots.js';

export interface AnalyzedEncoder {
  /** What the plots and the JSON call it (e.g. "student, after alignment"). */
  name: string;
  encoder: VisionTransformer;
  /** The set holding the encoder's weights (needed to move it to a device). */
  params?: ParameterSet;
  /** The pixel normalisation the encoder was trained with (default: CLIP's, what cskd trains with). */
  normalization?: Normalization;
}

export interface AttentionAnalysisOptions {
  /**
   * Pixels per patch step in the distance. Default: each encoder's own patch
   * size, i.e. distances in the pixels of the encoder's input.
   */
  patchPx?: number;
  /** Images per forward (default 16). */
  batchSize?: number;
  /** Where the forwards run (default 'cpu'); the encoders' weights are moved there. */
  device?: Device | 'cuda';
}

export interface EncoderAttention {
  name: string;
  imgSize: number;
  patchSize: number;
  patchPx: number;
  depth: number;
  heads: number;
  /** Images that decoded and were averaged over. */
  images: number;
  /** [depth][heads]: layer l (1-based) is index l − 1. Pixels. */
  distance: number[][];
  /** [depth][heads]: nats. */
  entropy: number[][];
  /** What uniform attention over all tokens gives (a reference line: heads that see everything alike). */
  uniform: { distance: number; entropy: number };
}

export interface AttentionAnalysis {
  /** Image paths given (bad files are left out of the averages and listed in `skipped`). */
  imagePaths: string[];
  skipped: Record<string, string>;
  models: EncoderAttention[];
}

/**
 * Distance and entropy of uniform attention (1/N over all N = prefix + gridH·gridW
 * tokens) by the same formulas: patch rows and columns, not renormalised.
 */
export function uniformAttentionStats(gridH: number, gridW: number, patchPx: number, prefix = 1): { distance: number; entropy: number } {
  const P = gridH * gridW;
  const N = P + prefix;
  // Σ over patch pairs of the grid distance, by offsets: (gridH − |dy|)(gridW − |dx|) pairs at each (dy, dx).
  let pairs = 0;
  for (let dy = -(gridH - 1); dy < gridH; dy++)
    for (let dx = -(gridW - 1); dx < gridW; dx++) pairs += (gridH - Math.abs(dy)) * (gridW - Math.abs(dx)) * Math.hypot(dx, dy);
  return { distance: (patchPx * pairs) / (N * P), entropy: (P / N) * Math.log(N) };
}

function normalizationKey(n: Normalization): string {
  return `${n.mean.join(',')}/${n.std.join(',')}`;
}

/** Sums [depth][heads] of one encoder's statistics over the batches it sees. */
class StatsAccumulator {
  readonly distance: Float64Array;
  readonly entropy: Float64Array;
  images = 0;

  constructor(
    readonly depth: number,
    readonly heads: number,
  ) {
    this.distance = new Float64Array(depth * heads);
    this.entropy = new Float64Array(depth * heads);
  }

  recorder(gridH: number, gridW: number, patchPx: number): AttentionStatsRecorder {
    const H = this.heads;
    return {
      gridH,
      gridW,
      patchPx,
      prefix: 1,
      record: (layer: number, distance: Tensor, entropy: Tensor) => {
        const B = distance.shape[0] as number;
        const base = (layer - 1) * H;
        const d = distance.device === 'cpu' ? distance.data : distance.copyToHost();
        const e = entropy.device === 'cpu' ? entropy.data : entropy.copyToHost();
        for (let b = 0; b < B; b++)
          for (let h = 0; h < H; h++) {
            this.distance[base + h] = (this.distance[base + h] as number) + (d[b * H + h] as number);
            this.entropy[base + h] = (this.entropy[base + h] as number) + (e[b * H + h] as number);
          }
      },
    };
  }

  means(which: Float64Array): number[][] {
    return Array.from({ length: this.depth }, (_, l) => Array.from({ length: this.heads }, (_, h) => (which[l * this.heads + h] as number) / this.images));
  }
}

/**
 * Mean attention distance and entropy per layer and head of each encoder over
 * the same images (forward only, training: false).
 */
export async function analyzeAttention(encoders: readonly AnalyzedEncoder[], imagePaths: readonly string[], opts: AttentionAnalysisOptions = {}): Promise<AttentionAnalysis> {
  if (encoders.length === 0) throw new RangeError('analyzeAttention: no encoders given');
  if (imagePaths.length === 0) throw new RangeError('analyzeAttention: no images given');
  const batchSize = opts.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`analyzeAttention: batchSize must be a positive integer, got ${batchSize}`);
  if (opts.patchPx !== undefined && !(opts.patchPx > 0)) throw new RangeError(`analyzeAttention: patchPx must be positive, got ${opts.patchPx}`);

  const device = parseDevice(opts.device ?? 'cpu');
  for (const e of encoders) {
    if (device === 'cpu' && (e.params?.device ?? 'cpu') === 'cpu') continue;
    if (!e.params) throw new TypeError(`analyzeAttention: encoder '${e.name}' has no parameter set to move to ${device}`);
    e.params.to(device);
  }
  const acc = encoders.map((e) => new StatsAccumulator(e.encoder.config.depth, e.encoder.config.numHeads));
  // Encoders that take the same input share one decode of the images.
  const groups = new Map<string, number[]>();
  encoders.forEach((e, i) => {
    const key = `${e.encoder.config.imgSize}|${normalizationKey(e.normalization ?? CLIP_NORMALIZATION)}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const skipped: Record<string, string> = {};
  const items = imagePaths.map((path) => ({ path }));
  const arena = new Arena('attention-analysis', 1 << 20, device);
  for (const members of groups.values()) {
    const first = encoders[members[0] as number] as AnalyzedEncoder;
    const S = first.encoder.config.imgSize;
    const loader = new ImageLoader(items, { batchSize, views: [evalView(S, first.normalization ?? CLIP_NORMALIZATION)], seed: 0, shuffle: false });
    for await (const batch of loader.epoch(0)) {
      const images = arena.place(new Tensor(batch.images[0] as Float32Array, [batch.size, 3, S, S]));
      for (const i of members) {
        const { encoder } = encoders[i] as AnalyzedEncoder;
        const c = encoder.config;
        const a = acc[i] as StatsAccumulator;
        encoder.forward(images, { arena, training: false, attentionStats: a.recorder(encoder.gridSize, encoder.gridSize, opts.patchPx ?? c.patchSize) });
        a.images += batch.size;
        arena.reset();
      }
    }
    for (const [path, err] of loader.badFiles) skipped[path] = `${err.kind}: ${err.detail}`;
  }
  const models = encoders.map((e, i): EncoderAttention => {
    const a = acc[i] as StatsAccumulator;
    if (a.images === 0) throw new Error(`analyzeAttention: none of the ${imagePaths.length} images could be read (first: ${Object.entries(skipped)[0]?.join(': ') ?? 'unknown'})`);
    const c = e.encoder.config;
    return {
      name: e.name,
      imgSize: c.imgSize,
      patchSize: c.patchSize,
      patchPx: opts.patchPx ?? c.patchSize,
      depth: c.depth,
      heads: c.numHeads,
      images: a.images,
      distance: a.means(a.distance),
      entropy: a.means(a.entropy),
      uniform: uniformAttentionStats(e.encoder.gridSize, e.encoder.gridSize, opts.patchPx ?? c.patchSize),
    };
  });
  return { imagePaths: [...imagePaths], skipped, models };
}

// ---- what `cskd analyze` and the run report open and write ----

/** A cskd checkpoint's encoder (any phase: alignment, teacher, student), named after the file unless a name is given. */
export function encoderFromCheckpoint(path: string, name?: string): AnalyzedEncoder {
  const model = loadModel(path);
  return { name: name ?? basename(path).replace(/\.safetensors$/i, ''), encoder: model.encoder, params: model.params, normalization: CLIP_NORMALIZATION };
}

/** A CLIP vision tower (Hugging Face or open_clip safetensors), with its own normalisation. */
export function encoderFromClip(path: string, name = 'CLIP'): AnalyzedEncoder {
  const clip = importClipVision(path);
  const p = clip.preprocessing;
  return { name, encoder: clip.encoder, params: clip.params, normalization: { name: 'clip-file', mean: p.mean, std: p.std } };
}

/** A freshly initialised encoder of a named preset: "before alignment" when training starts from scratch. */
export function encoderAtInit(preset: string, seed = 0, name?: string): AnalyzedEncoder {
  const params = new ParameterSet();
  const encoder = new VisionTransformer(params, vitConfig(preset));
  initParameters(params, new Rng(seed));
  return { name: name ?? `${preset} at init`, encoder, params, normalization: CLIP_NORMALIZATION };
}

/**
 * Image paths from folders (walked recursively), globs, list files or single
 * images; `count` of them drawn by a seeded shuffle (all when count is absent
 * or larger), in a stable order.
 */
export async function selectImages(specs: readonly string[], opts: { count?: number; seed?: number; baseDir?: string } = {}): Promise<string[]> {
  const base = opts.baseDir ?? process.cwd();
  const configs: UnlabeledSourceConfig[] = [];
  const singles: string[] = [];
  specs.forEach((spec, i) => {
    const name = `images-${i}`;
    if (/[*?]/.test(spec)) configs.push({ name, glob: spec });
    else if (existsSync(resolve(base, spec)) && statSync(resolve(base, spec)).isDirectory()) configs.push({ name, dir: spec });
    else if (IMAGE_EXTENSIONS.some((e) => spec.toLowerCase().endsWith(e))) singles.push(resolve(base, spec));
    else configs.push({ name, list: spec });
  });
  const { sources, issues } = await resolvePool(configs, base);
  if (issues.length > 0) {
    // Issues name the source ('images-<i>'); say which argument it was.
    const which = (file: string) => specs[Number(/images-(\d+)/.exec(file)?.[1] ?? NaN)] ?? file;
    throw new Error(`images: ${issues.map((i) => `${which(i.file)}: ${i.message}`).join('; ')}`);
  }
  const all = [...new Set([...singles, ...sources.flatMap((s) => s.files)])].sort();
  if (all.length === 0) throw new Error(`images: no image files in ${specs.join(', ')}`);
  if (opts.count === undefined || opts.count >= all.length) return all;
  return new Rng(opts.seed ?? 0).shuffle([...all]).slice(0, opts.count).sort();
}

export interface AttentionOutputs {
  json: string;
  svg: string;
  png: string;
}

/** attention.json (the numbers), attention.svg and attention.png (the figure) in `outDir`. */
export async function writeAttentionAnalysis(analysis: AttentionAnalysis, outDir: string, opts: { title?: string } = {}): Promise<AttentionOutputs> {
  mkdirSync(outDir, { recursive: true });
  const out = { json: join(outDir, 'attention.json'), svg: join(outDir, 'attention.svg'), png: join(outDir, 'attention.png') };
  writeFileSync(out.json, `${JSON.stringify({ formulas: 'docs/design.md: patch tokens only; softmax over all tokens, not renormalised; layers 1-based', ...analysis }, null, 2)}\n`);
  const fig = attentionFigure(analysis.models, { title: opts.title ?? `Attention per head over ${analysis.models[0]?.images ?? 0} images` });
  writeFileSync(out.svg, fig.svg);
  writeFileSync(out.png, await figureToPng(fig));
  return out;
}

export interface AttentionSummary {
  name: string;
  depth: number;
  heads: number;
  /** Mean over every layer and head, and over the last layer's heads. */
  distance: { mean: number; lastLayer: number };
  entropy: { mean: number; lastLayer: number };
}

/** One line's worth per model: the means over all heads and over the last layer's. */
export function summarizeAttention(analysis: AttentionAnalysis): AttentionSummary[] {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return analysis.models.map((m) => ({
    name: m.name,
    depth: m.depth,
    heads: m.heads,
    distance: { mean: mean(m.distance.flat()), lastLayer: mean(m.distance[m.distance.length - 1] ?? []) },
    entropy: { mean: mean(m.entropy.flat()), lastLayer: mean(m.entropy[m.entropy.length - 1] ?? []) },
  }));
}
