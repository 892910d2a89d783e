// Importing and exporting encoder weights in other libraries' layouts.
//
// A layout is a list of rules, one per parameter of ours: which tensors of the
// file make it and how (same values under another shape, q/k/v stacked into
// qkv, a transposed matrix, or absent in the file and zero here). The same
// rules run both ways, so export is the inverse of import by construction.
//
// Import checks everything before it writes anything and fails once, naming
// every missing, unexpected and mis-shaped tensor with both shapes. The one
// shape difference it repairs is the position embedding of another square
// grid, which it resamples (posembed.ts) unless told not to.
//
// Layouts here: timm's VisionTransformer (our own names) and Hugging Face's
// ViTModel / ViTForImageClassification (`google/vit-*`). CLIP's are in clip.ts.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { readSafetensors, type SafeTensor, type SafetensorsFile, type TensorData, writeSafetensors } from '../tensor/safetensors.js';
import type { ParameterSet } from './parameters.js';
import { type PosEmbedInterpolation, resamplePosEmbed, squareGrid } from './posembed.js';
import { VIT_DEFAULTS, type VitConfig } from './vit.js';

export type TensorRule =
  /** The file tensor holds the parameter's values; `shape` when the file's shape differs (e.g. [E] for [1, 1, E]). */
  | { kind: 'copy'; param: string; file: string; shape?: readonly number[]; posEmbed?: boolean }
  /** The parameter is the file tensors stacked along dim 0 (q, k, v → qkv). */
  | { kind: 'stack'; param: string; files: readonly string[] }
  /** The file stores the transpose of our 2-D parameter (open_clip's proj [E, D]). */
  | { kind: 'transpose'; param: string; file: string }
  /** The file has no such tensor: import zeros (e.g. CLIP's patch embedding has no bias); export omits it. */
  | { kind: 'zeros'; param: string };

export interface Layout {
  /** For messages: 'timm', 'Hugging Face ViT', … */
  name: string;
  rules: TensorRule[];
  /** File tensors that belong to other parts of a model (a classifier, CLIP's text tower) and are skipped. */
  ignore: (name: string) => boolean;
  /** Parts of our model the layout cannot express; each is a problem on import and an error on export. */
  unsupported?: string[];
}

export interface ImportOptions {
  /** Resample a position embedding of another square grid (default true; false makes it a mismatch). */
  resizePosEmbed?: boolean;
  interpolation?: PosEmbedInterpolation;
  /** The file's name in error messages (default: the path, or 'safetensors' for a file already read). */
  source?: string;
}

export interface ImportReport {
  layout: string;
  /** Parameters written. */
  loaded: string[];
  /** Parameters set to zero because the layout has no such tensor. */
  zeroed: string[];
  /** File tensors skipped by the layout's ignore rule. */
  ignored: string[];
  /** Position embeddings resampled: parameter, file grid, our grid. */
  resized: { param: string; from: number; to: number }[];
}

/** The single error of a failed import; `problems` has one line per tensor. */
export class WeightImportError extends Error {
  readonly problems: readonly string[];
  constructor(source: string, layout: string, problems: string[]) {
    super(`${source}: cannot import ${layout} weights; ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    this.name = 'WeightImportError';
    this.problems = problems;
  }
}

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;
const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** A path (read with only the tensors the layout may use) or an already-read file. */
export type WeightSource = string | SafetensorsFile;

function sourceName(src: WeightSource): string {
  return typeof src === 'string' ? src : 'safetensors';
}

/** File tensor names each rule reads. */
function ruleFiles(rule: TensorRule): readonly string[] {
  if (rule.kind === 'stack') return rule.files;
  if (rule.kind === 'zeros') return [];
  return [rule.file];
}

/** Fills the parameters the rules name from `src`; throws WeightImportError listing every problem. */
export function importWeights(params: ParameterSet, src: WeightSource, layout: Layout, opts: ImportOptions = {}): ImportReport {
  const file = typeof src === 'string' ? readSafetensors(src, { select: (n) => !layout.ignore(n) }) : src;
  return importFile(params, file, opts.source ?? sourceName(src), layout, opts);
}

function importFile(params: ParameterSet, file: SafetensorsFile, source: string, layout: Layout, opts: ImportOptions): ImportReport {
  const problems: string[] = [...(layout.unsupported ?? [])];
  const used = new Set<string>();
  const writes: { param: string; data: Float32Array }[] = [];
  const report: ImportReport = { layout: layout.name, loaded: [], zeroed: [], ignored: [], resized: [] };
  const resize = opts.resizePosEmbed ?? true;

  for (const rule of layout.rules) {
    if (!params.has(rule.param)) {
      problems.push(`${rule.param}: the model has no such parameter (layout ${layout.name} expects it)`);
      continue;
    }
    const shape = params.get(rule.param).shape;
    for (const f of ruleFiles(rule)) used.add(f);
    const get = (name: string): SafeTensor | null => {
      const t = file.tensors.get(name);
      if (!t) problems.push(`${name}: missing (for ${rule.param} ${fmt(shape)})`);
      return t ?? null;
    };
    if (rule.kind === 'zeros') {
      writes.push({ param: rule.param, data: new Float32Array(numel(shape)) });
      report.zeroed.push(rule.param);
    } else if (rule.kind === 'copy') {
      const t = get(rule.file);
      if (!t) continue;
      const want = rule.shape ?? shape;
      if (sameShape(t.shape, want)) {
        writes.push({ param: rule.param, data: t.data });
        continue;
      }
      const E = want[want.length - 1] as number;
      const fromGrid = squareGrid(t.data.length / E);
      const toGrid = squareGrid(numel(want) / E);
      if (rule.posEmbed && resize && t.shape[t.shape.length - 1] === E && fromGrid && toGrid && t.data.length % E === 0) {
        const data = resamplePosEmbed(t.data, { from: [fromGrid, fromGrid], to: [toGrid, toGrid], dim: E, interpolation: opts.interpolation ?? 'bicubic' });
        writes.push({ param: rule.param, data });
        report.resized.push({ param: rule.param, from: fromGrid, to: toGrid });
      } else {
        problems.push(`${rule.file}: shape ${fmt(t.shape)} in the file, expected ${fmt(want)} (for ${rule.param})`);
      }
    } else if (rule.kind === 'stack') {
      const k = rule.files.length;
      const want = [(shape[0] as number) / k, ...shape.slice(1)];
      const parts = rule.files.map(get);
      let ok = parts.every((t) => t !== null);
      parts.forEach((t, i) => {
        if (t && !sameShape(t.shape, want)) {
          problems.push(`${rule.files[i]}: shape ${fmt(t.shape)} in the file, expected ${fmt(want)} (a 1/${k} part of ${rule.param} ${fmt(shape)})`);
          ok = false;
        }
      });
      if (!ok) continue;
      const data = new Float32Array(numel(shape));
      parts.forEach((t, i) => data.set((t as SafeTensor).data, i * numel(want)));
      writes.push({ param: rule.param, data });
    } else {
      const t = get(rule.file);
      if (!t) continue;
      const want = [shape[1] as number, shape[0] as number];
      if (!sameShape(t.shape, want)) {
        problems.push(`${rule.file}: shape ${fmt(t.shape)} in the file, expected ${fmt(want)} (the transpose of ${rule.param} ${fmt(shape)})`);
        continue;
      }
      writes.push({ param: rule.param, data: transpose(t.data, want[0] as number, want[1] as number) });
    }
  }
  for (const [name, t] of file.tensors) {
    if (used.has(name)) continue;
    if (layout.ignore(name)) report.ignored.push(name);
    else problems.push(`${name}: unexpected tensor ${fmt(t.shape)} (no parameter of ours maps to it)`);
  }
  if (problems.length > 0) throw new WeightImportError(source, layout.name, problems);
  for (const w of writes) {
    params.get(w.param).value.data.set(w.data);
    if (!report.zeroed.includes(w.param)) report.loaded.push(w.param);
  }
  return report;
}

/** The file tensors the rules make from our parameters (zeros rules write nothing). */
export function exportWeights(params: ParameterSet, layout: Layout): Map<string, TensorData> {
  if (layout.unsupported?.length) throw new Error(`cannot export in the ${layout.name} layout: ${layout.unsupported.join('; ')}`);
  const out = new Map<string, TensorData>();
  for (const rule of layout.rules) {
    const p = params.get(rule.param);
    const values = Float32Array.from(p.value.data);
    if (rule.kind === 'copy') out.set(rule.file, { shape: rule.shape ?? p.shape, data: values });
    else if (rule.kind === 'stack') {
      const k = rule.files.length;
      const part = [(p.shape[0] as number) / k, ...p.shape.slice(1)];
      const n = numel(part);
      rule.files.forEach((f, i) => out.set(f, { shape: part, data: values.slice(i * n, (i + 1) * n) }));
    } else if (rule.kind === 'transpose') {
      const [r, c] = p.shape as [number, number];
      out.set(rule.file, { shape: [c, r], data: transpose(values, r, c) });
    }
  }
  return out;
}

/** [rows, cols] → [cols, rows]. */
function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j] as number;
  return t;
}

// ---------------------------------------------------------------------------
// ViT layouts

export type VitLayoutName = 'timm' | 'hf';

/** Which of a parameter set's names (under `prefix`) are a VisionTransformer's. */
const VIT_PARAM = /^(patch_embed\.|cls_token$|pos_embed$|norm_pre\.|blocks\.\d+\.|norm\.)/;

function vitParamNames(params: ParameterSet, prefix: string): string[] {
  return params.list.map((p) => p.name).filter((n) => n.startsWith(prefix) && VIT_PARAM.test(n.slice(prefix.length)));
}

/** timm's names are ours: every encoder parameter under `prefix` is the file tensor without it. */
export function timmVitLayout(params: ParameterSet, prefix = ''): Layout {
  const rules: TensorRule[] = vitParamNames(params, prefix).map((param) => {
    const file = param.slice(prefix.length);
    return file === 'pos_embed' ? { kind: 'copy', param, file, posEmbed: true } : { kind: 'copy', param, file };
  });
  return { name: 'timm', rules, ignore: (n) => n.startsWith('head.') };
}

/**
 * Hugging Face ViTModel (`filePrefix` '') or ViTForImageClassification ('vit.').
 * HF keeps q, k and v apart; our qkv is their stack. HF's ViT has no pre-norm,
 * so a model with norm_pre cannot take these weights (reported as a problem).
 */
export function hfVitLayout(params: ParameterSet, prefix = '', filePrefix = 'vit.'): Layout {
  const p = prefix;
  const f = filePrefix;
  const rules: TensorRule[] = [];
  const map = (ours: string, theirs: string) => {
    rules.push({ kind: 'copy', param: `${p}${ours}.weight`, file: `${f}${theirs}.weight` });
    if (params.has(`${p}${ours}.bias`)) rules.push({ kind: 'copy', param: `${p}${ours}.bias`, file: `${f}${theirs}.bias` });
  };
  map('patch_embed.proj', 'embeddings.patch_embeddings.projection');
  rules.push({ kind: 'copy', param: `${p}cls_token`, file: `${f}embeddings.cls_token` });
  rules.push({ kind: 'copy', param: `${p}pos_embed`, file: `${f}embeddings.position_embeddings`, posEmbed: true });
  for (let i = 0; params.has(`${p}blocks.${i}.norm1.weight`); i++) {
    const b = `blocks.${i}`;
    const l = `encoder.layer.${i}`;
    map(`${b}.norm1`, `${l}.layernorm_before`);
    const qkv = ['query', 'key', 'value'].map((n) => `${f}${l}.attention.attention.${n}`);
    rules.push({ kind: 'stack', param: `${p}${b}.attn.qkv.weight`, files: qkv.map((n) => `${n}.weight`) });
    if (params.has(`${p}${b}.attn.qkv.bias`)) rules.push({ kind: 'stack', param: `${p}${b}.attn.qkv.bias`, files: qkv.map((n) => `${n}.bias`) });
    map(`${b}.attn.proj`, `${l}.attention.output.dense`);
    map(`${b}.norm2`, `${l}.layernorm_after`);
    map(`${b}.mlp.fc1`, `${l}.intermediate.dense`);
    map(`${b}.mlp.fc2`, `${l}.output.dense`);
  }
  map('norm', 'layernorm');
  const unsupported = params.has(`${p}norm_pre.weight`) ? [`${p}norm_pre: Hugging Face's ViT has no LayerNorm before the blocks`] : [];
  return {
    name: 'Hugging Face ViT',
    rules,
    ignore: (n) => n.startsWith('classifier.') || n.startsWith(`${f}pooler.`) || n.endsWith('.position_ids'),
    unsupported,
  };
}

/** 'hf' when the file has HF ViT names, else 'timm'; also the HF name prefix ('vit.' or ''). */
export function detectVitLayout(file: SafetensorsFile): { layout: VitLayoutName; filePrefix: string } {
  if (file.tensors.has('vit.embeddings.cls_token')) return { layout: 'hf', filePrefix: 'vit.' };
  if (file.tensors.has('embeddings.cls_token')) return { layout: 'hf', filePrefix: '' };
  return { layout: 'timm', filePrefix: '' };
}

export interface LoadVitOptions extends ImportOptions {
  /** Our parameter names' prefix (the VisionTransformer's). */
  prefix?: string;
  /** Default: detected from the names in the file. */
  layout?: VitLayoutName;
}

/**
 * Loads a timm or Hugging Face ViT checkpoint into the VisionTransformer
 * parameters under `prefix`. Other parameters of the set (a score head, a
 * projector) are left alone, and the file's classifier (`head.*`,
 * `classifier.*`, `*pooler.*`) is skipped.
 */
export function loadTimmVit(params: ParameterSet, src: WeightSource, opts: LoadVitOptions = {}): ImportReport {
  const prefix = opts.prefix ?? '';
  const file = typeof src === 'string' ? readSafetensors(src, { select: (n) => !n.endsWith('.position_ids') }) : src;
  const detected = detectVitLayout(file);
  const layout = (opts.layout ?? detected.layout) === 'hf' ? hfVitLayout(params, prefix, detected.filePrefix) : timmVitLayout(params, prefix);
  return importFile(params, file, opts.source ?? sourceName(src), layout, opts);
}

export interface SaveVitOptions {
  prefix?: string;
  /** 'timm' (default) or 'hf' (ViTForImageClassification names, 'vit.' prefix). */
  layout?: VitLayoutName;
  /** String metadata for the header (e.g. the config as JSON). */
  metadata?: Record<string, string>;
}

/** Writes the VisionTransformer parameters under `prefix` in timm's (or HF's) names, atomically. */
export function saveTimmVit(params: ParameterSet, path: string, opts: SaveVitOptions = {}): void {
  const prefix = opts.prefix ?? '';
  const layout = opts.layout === 'hf' ? hfVitLayout(params, prefix) : timmVitLayout(params, prefix);
  writeSafetensors(path, exportWeights(params, layout), opts.metadata ?? {});
}

/** A JSON file in the same directory as `path`, or null when there is none. */
export function readJsonNextTo(path: string, name: string): Record<string, unknown> | null {
  const p = join(dirname(path), name);
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${p}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

/** HF's hidden_act → our GELU. */
export function geluFromHfAct(act: unknown, source: string): VitConfig['gelu'] {
  if (act === 'quick_gelu') return 'quick';
  if (act === 'gelu') return 'erf';
  if (act === 'gelu_new' || act === 'gelu_pytorch_tanh' || act === 'gelu_fast') return 'tanh';
  throw new Error(`${source}: hidden_act '${String(act)}' is not a GELU this engine runs`);
}

function shapeOf(file: SafetensorsFile, name: string, source: string): number[] {
  const t = file.tensors.get(name);
  if (!t) throw new Error(`${source}: cannot infer the ViT config without '${name}'`);
  return t.shape;
}

/**
 * A VitConfig from a timm or HF ViT file's shapes. What shapes cannot tell
 * comes from a config.json beside the file when there is one (HF: heads, eps,
 * activation; timm hub: model_args.num_heads), else heads = width / 64 and the
 * library's default eps (timm 1e-6, HF 1e-12).
 */
export function inferVitConfig(src: WeightSource): VitConfig {
  const source = sourceName(src);
  const file = typeof src === 'string' ? readSafetensors(src, { select: (n) => !n.endsWith('.position_ids') }) : src;
  const json = typeof src === 'string' ? readJsonNextTo(src, 'config.json') : null;
  const { layout, filePrefix: f } = detectVitLayout(file);
  const hf = layout === 'hf';
  const names = hf
    ? { patch: `${f}embeddings.patch_embeddings.projection.weight`, pos: `${f}embeddings.position_embeddings`, block: (i: number) => `${f}encoder.layer.${i}.layernorm_before.weight`, fc1: `${f}encoder.layer.0.intermediate.dense.weight`, qkvBias: `${f}encoder.layer.0.attention.attention.query.bias` }
    : { patch: 'patch_embed.proj.weight', pos: 'pos_embed', block: (i: number) => `blocks.${i}.norm1.weight`, fc1: 'blocks.0.mlp.fc1.weight', qkvBias: 'blocks.0.attn.qkv.bias' };
  const [E, C, p] = shapeOf(file, names.patch, source) as [number, number, number];
  const pos = shapeOf(file, names.pos, source);
  const grid = squareGrid(pos[pos.length - 2] as number);
  if (!grid) throw new Error(`${source}: position embedding ${fmt(pos)} is not a CLS token plus a square grid`);
  let depth = 0;
  while (file.tensors.has(names.block(depth))) depth++;
  const hidden = shapeOf(file, names.fc1, source)[0] as number;
  const modelArgs = (json?.['model_args'] ?? {}) as Record<string, unknown>;
  const heads = (hf ? json?.['num_attention_heads'] : modelArgs['num_heads']) ?? E / 64;
  if (!(Number.isInteger(heads) && E % (heads as number) === 0)) {
    throw new Error(`${source}: cannot tell the number of heads of width ${E} (give a config.json beside the file)`);
  }
  return {
    ...VIT_DEFAULTS,
    imgSize: grid * p,
    patchSize: p,
    inChans: C,
    embedDim: E,
    depth,
    numHeads: heads as number,
    mlpRatio: hidden / E,
    qkvBias: file.tensors.has(names.qkvBias),
    layerNormEps: hf ? ((json?.['layer_norm_eps'] as number | undefined) ?? 1e-12) : 1e-6,
    gelu: hf && json?.['hidden_act'] !== undefined ? geluFromHfAct(json['hidden_act'], source) : 'erf',
    pool: 'cls',
    preNorm: !hf && file.tensors.has('norm_pre.weight'),
  };
}
