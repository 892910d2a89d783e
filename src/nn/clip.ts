// CLIP's vision tower as a model of our engine, imported from a local
// Hugging Face CLIPVisionModelWithProjection / CLIPModel or open_clip (and
// OpenAI CLIP) safetensors file.
//
// CLIP's image encoder is our VisionTransformer with:
//   - the class embedding as cls_token, the position embedding as pos_embed;
//   - a patch-embedding conv without bias (imported as a zero bias, which
//     computes the same thing; export leaves it out);
//   - ln_pre as norm_pre (preNorm: true), LayerNorm eps 1e-5;
//   - quick-GELU, x·σ(1.702x), in the MLPs (OpenAI's models; other activations
//     where the file's config says so);
//   - ln_post on the CLS token, which is our final norm followed by CLS pooling
//     (LayerNorm acts per token, so normalising all tokens then taking the CLS
//     one gives the same vector);
// followed by the projection, a Linear E→D without bias. Attention scaling is
// the usual 1/√(E/heads). HF's separate q/k/v projections are stacked into
// our qkv; open_clip's in_proj_weight already is that stack; open_clip stores
// the projection transposed ([E, D], used as x @ proj).
//
// What shapes cannot tell (heads, activation, eps, preprocessing) comes from
// the config files Hugging Face and open_clip save beside the weights
// (config.json and preprocessor_config.json; open_clip_config.json), else from
// OpenAI CLIP's values: 64-wide heads, quick-GELU, mean/std below, bicubic
// resize of the shorter side and a center crop.
import type { Tensor } from '../tensor/tensor.js';
import { readSafetensors, type SafetensorsFile, writeSafetensors } from '../tensor/safetensors.js';
import { Linear } from './layers.js';
import type { ForwardContext } from './module.js';
import { ParameterSet } from './parameters.js';
import { squareGrid } from './posembed.js';
import { VisionTransformer, type VitConfig } from './vit.js';
import {
  exportWeights,
  geluFromHfAct,
  type ImportOptions,
  type ImportReport,
  importWeights,
  type Layout,
  readJsonNextTo,
  type TensorRule,
  type WeightSource,
} from './weights.js';

export interface ClipVisionConfig extends VitConfig {
  /** D, the width of the image embedding (the projection's output). */
  projectionDim: number;
}

export const CLIP_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/** How images must be prepared for this encoder (what the original code does). */
export interface ClipPreprocessing {
  /** Resize the shorter side to `size`, then center-crop size × size. */
  size: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  interpolation: 'bicubic' | 'bilinear';
  crop: 'center';
}

export type ClipLayoutName = 'hf' | 'open_clip';

export class ClipVisionModel {
  readonly config: ClipVisionConfig;
  readonly params: ParameterSet;
  readonly encoder: VisionTransformer;
  readonly projection: Linear;
  readonly preprocessing: ClipPreprocessing;
  readonly prefix: string;

  /** Declares the parameters in `params` (share the set with a head to fine-tune CLIP's encoder). */
  constructor(params: ParameterSet, config: ClipVisionConfig, opts: { prefix?: string; preprocessing?: ClipPreprocessing } = {}) {
    this.config = { ...config };
    this.params = params;
    this.prefix = opts.prefix ?? '';
    this.encoder = new VisionTransformer(params, config, this.prefix);
    this.projection = new Linear(params, `${this.prefix}proj`, config.embedDim, config.projectionDim, { bias: false, layer: config.depth + 1 });
    this.preprocessing = opts.preprocessing ?? {
      size: config.imgSize,
      mean: CLIP_MEAN,
      std: CLIP_STD,
      interpolation: 'bicubic',
      crop: 'center',
    };
  }

  /** Image embeddings [B, D] (not L2-normalised) of preprocessed images [B, C, H, W]. */
  forward(images: Tensor, ctx: ForwardContext): Tensor {
    return this.projection.forward(this.encoder.forward(images, ctx), ctx);
  }

  /** Adds every parameter's gradient given the gradient of the embeddings [B, D]. */
  backward(dembeddings: Tensor, ctx: ForwardContext): void {
    this.encoder.backward(this.projection.backward(dembeddings, ctx) as Tensor, ctx);
  }
}

/** The rules between our parameter names (under `prefix`) and a CLIP file's. */
export function clipVisionLayout(layout: ClipLayoutName, depth: number, prefix = ''): Layout {
  const p = prefix;
  const rules: TensorRule[] = [];
  const pair = (ours: string, theirs: string) => {
    for (const s of ['weight', 'bias']) rules.push({ kind: 'copy', param: `${p}${ours}.${s}`, file: `${theirs}.${s}` });
  };
  const hf = layout === 'hf';
  const v = hf ? 'vision_model.' : 'visual.';
  rules.push({ kind: 'copy', param: `${p}patch_embed.proj.weight`, file: hf ? `${v}embeddings.patch_embedding.weight` : `${v}conv1.weight` });
  rules.push({ kind: 'zeros', param: `${p}patch_embed.proj.bias` });
  // Shapes of the file's class and position embeddings ([E], [N, E]) are filled in by withShapes().
  rules.push({ kind: 'copy', param: `${p}cls_token`, file: hf ? `${v}embeddings.class_embedding` : `${v}class_embedding` });
  rules.push({ kind: 'copy', param: `${p}pos_embed`, file: hf ? `${v}embeddings.position_embedding.weight` : `${v}positional_embedding`, posEmbed: true });
  pair('norm_pre', hf ? `${v}pre_layrnorm` : `${v}ln_pre`);
  for (let i = 0; i < depth; i++) {
    const b = `blocks.${i}`;
    if (hf) {
      const l = `${v}encoder.layers.${i}`;
      pair(`${b}.norm1`, `${l}.layer_norm1`);
      for (const s of ['weight', 'bias']) {
        rules.push({ kind: 'stack', param: `${p}${b}.attn.qkv.${s}`, files: ['q_proj', 'k_proj', 'v_proj'].map((n) => `${l}.self_attn.${n}.${s}`) });
      }
      pair(`${b}.attn.proj`, `${l}.self_attn.out_proj`);
      pair(`${b}.norm2`, `${l}.layer_norm2`);
      pair(`${b}.mlp.fc1`, `${l}.mlp.fc1`);
      pair(`${b}.mlp.fc2`, `${l}.mlp.fc2`);
    } else {
      const l = `${v}transformer.resblocks.${i}`;
      pair(`${b}.norm1`, `${l}.ln_1`);
      rules.push({ kind: 'copy', param: `${p}${b}.attn.qkv.weight`, file: `${l}.attn.in_proj_weight` });
      rules.push({ kind: 'copy', param: `${p}${b}.attn.qkv.bias`, file: `${l}.attn.in_proj_bias` });
      pair(`${b}.attn.proj`, `${l}.attn.out_proj`);
      pair(`${b}.norm2`, `${l}.ln_2`);
      pair(`${b}.mlp.fc1`, `${l}.mlp.c_fc`);
      pair(`${b}.mlp.fc2`, `${l}.mlp.c_proj`);
    }
  }
  pair('norm', hf ? `${v}post_layernorm` : `${v}ln_post`);
  rules.push(hf ? { kind: 'copy', param: `${p}proj.weight`, file: 'visual_projection.weight' } : { kind: 'transpose', param: `${p}proj.weight`, file: `${v}proj` });
  // Everything else in a full CLIP file (the text tower, logit_scale, HF's position_ids buffer) is not ours.
  const ignore = hf
    ? (n: string) => !(n.startsWith(v) || n.startsWith('visual_projection.')) || n.endsWith('.position_ids')
    : (n: string) => !n.startsWith(v);
  return { name: hf ? 'Hugging Face CLIP vision' : 'open_clip vision', rules, ignore };
}

/** Our cls_token / pos_embed are [1, 1, E] / [1, N, E]; CLIP files hold [E] / [N, E]. */
function withShapes(layout: Layout, params: ParameterSet, prefix: string): Layout {
  const rules = layout.rules.map((r): TensorRule => {
    if (r.kind !== 'copy') return r;
    if (r.param === `${prefix}cls_token`) return { ...r, shape: params.get(r.param).shape.slice(2) };
    if (r.param === `${prefix}pos_embed`) return { ...r, shape: params.get(r.param).shape.slice(1) };
    return r;
  });
  return { ...layout, rules };
}

export function detectClipLayout(file: SafetensorsFile, source = 'safetensors'): ClipLayoutName {
  if (file.tensors.has('vision_model.embeddings.class_embedding')) return 'hf';
  if (file.tensors.has('visual.class_embedding')) return 'open_clip';
  throw new Error(
    `${source}: not a CLIP vision tower in a layout we read: neither 'vision_model.embeddings.class_embedding' (Hugging Face) ` +
      `nor 'visual.class_embedding' (open_clip / OpenAI) is present`,
  );
}

export interface ClipImportOptions extends ImportOptions {
  /** Override the MLP activation (default: from the config files, else quick-GELU). */
  gelu?: VitConfig['gelu'];
  /** Override the number of heads (default: from the config files, else width / 64). */
  numHeads?: number;
  /** Run at another image size: the position embedding is resampled (ImportOptions.interpolation). */
  imgSize?: number;
  /** Our parameter names' prefix. */
  prefix?: string;
}

/** The tensors of a full CLIP file that can belong to the vision tower (the text tower is never read). */
function visionTower(name: string): boolean {
  return (name.startsWith('vision_model.') || name.startsWith('visual_projection.') || name.startsWith('visual.')) && !name.endsWith('.position_ids');
}

function tuple3(v: unknown): readonly [number, number, number] | null {
  return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number') ? (v as [number, number, number]) : null;
}

function shape(file: SafetensorsFile, name: string, source: string): number[] {
  const t = file.tensors.get(name);
  if (!t) throw new Error(`${source}: cannot infer the CLIP config without '${name}'`);
  return t.shape;
}

/** The config, layout and preprocessing of a CLIP vision file, from its shapes and the config files beside it. */
export function inferClipVision(
  src: WeightSource,
  opts: ClipImportOptions = {},
): { config: ClipVisionConfig; layout: ClipLayoutName; preprocessing: ClipPreprocessing; file: SafetensorsFile } {
  const source = typeof src === 'string' ? src : 'safetensors';
  const path = typeof src === 'string' ? src : null;
  // Read only what could be the vision tower (a full CLIP file also holds the text tower).
  const file = path ? readSafetensors(path, { select: visionTower }) : (src as SafetensorsFile);
  const layout = detectClipLayout(file, source);
  const hf = layout === 'hf';
  const v = hf ? 'vision_model.' : 'visual.';
  const E = shape(file, hf ? `${v}embeddings.class_embedding` : `${v}class_embedding`, source)[0] as number;
  const [, C, p] = shape(file, hf ? `${v}embeddings.patch_embedding.weight` : `${v}conv1.weight`, source) as [number, number, number];
  const N = shape(file, hf ? `${v}embeddings.position_embedding.weight` : `${v}positional_embedding`, source)[0] as number;
  const grid = squareGrid(N);
  if (!grid) throw new Error(`${source}: ${N} position embeddings are not a class token plus a square grid`);
  const block = (i: number) => (hf ? `${v}encoder.layers.${i}.layer_norm1.weight` : `${v}transformer.resblocks.${i}.ln_1.weight`);
  let depth = 0;
  while (file.tensors.has(block(depth))) depth++;
  const hidden = shape(file, hf ? `${v}encoder.layers.0.mlp.fc1.weight` : `${v}transformer.resblocks.0.mlp.c_fc.weight`, source)[0] as number;
  const projShape = shape(file, hf ? 'visual_projection.weight' : `${v}proj`, source);
  const D = (hf ? projShape[0] : projShape[1]) as number;

  let heads: number | undefined;
  let gelu: VitConfig['gelu'] = 'quick';
  let eps = 1e-5;
  let mean = CLIP_MEAN;
  let std = CLIP_STD;
  let interpolation: ClipPreprocessing['interpolation'] = 'bicubic';
  if (path && hf) {
    const json = readJsonNextTo(path, 'config.json');
    const vc = (json?.['vision_config'] ?? json) as Record<string, unknown> | null;
    if (vc) {
      if (vc['hidden_size'] !== undefined && vc['hidden_size'] !== E) throw new Error(`${source}: config.json says hidden_size ${String(vc['hidden_size'])}, the weights have ${E}`);
      heads = vc['num_attention_heads'] as number | undefined;
      if (vc['hidden_act'] !== undefined) gelu = geluFromHfAct(vc['hidden_act'], source);
      eps = (vc['layer_norm_eps'] as number | undefined) ?? eps;
    }
    const pre = readJsonNextTo(path, 'preprocessor_config.json');
    if (pre) {
      mean = tuple3(pre['image_mean']) ?? mean;
      std = tuple3(pre['image_std']) ?? std;
      if (pre['resample'] === 2) interpolation = 'bilinear';
    }
  } else if (path) {
    const json = readJsonNextTo(path, 'open_clip_config.json');
    const model = json?.['model_cfg'] as Record<string, unknown> | undefined;
    if (model) {
      const vc = (model['vision_cfg'] ?? {}) as Record<string, unknown>;
      if (vc['width'] !== undefined && vc['width'] !== E) throw new Error(`${source}: open_clip_config.json says width ${String(vc['width'])}, the weights have ${E}`);
      heads = E / ((vc['head_width'] as number | undefined) ?? 64);
      // open_clip's own default is nn.GELU; only the *-quickgelu (OpenAI) configs say quick_gelu.
      gelu = model['quick_gelu'] === true ? 'quick' : 'erf';
    }
    const pre = json?.['preprocess_cfg'] as Record<string, unknown> | undefined;
    if (pre) {
      mean = tuple3(pre['mean']) ?? mean;
      std = tuple3(pre['std']) ?? std;
      if (pre['interpolation'] === 'bilinear') interpolation = 'bilinear';
    }
  }
  heads = opts.numHeads ?? heads ?? E / 64;
  if (!(Number.isInteger(heads) && heads > 0 && E % heads === 0)) {
    throw new Error(`${source}: width ${E} does not split into ${heads} heads (pass numHeads, or put the model's config file beside the weights)`);
  }
  const imgSize = opts.imgSize ?? grid * p;
  if (imgSize % p !== 0) throw new RangeError(`${source}: image size ${imgSize} is not a multiple of the patch size ${p}`);
  const config: ClipVisionConfig = {
    imgSize,
    patchSize: p,
    inChans: C,
    embedDim: E,
    depth,
    numHeads: heads,
    mlpRatio: hidden / E,
    qkvBias: true,
    layerNormEps: eps,
    gelu: opts.gelu ?? gelu,
    pool: 'cls',
    preNorm: true,
    projectionDim: D,
  };
  return { config, layout, preprocessing: { size: imgSize, mean, std, interpolation, crop: 'center' }, file };
}

/** Loads a CLIP vision file into a model declared beforehand (e.g. in a set shared with a score head). */
export function loadClipVision(model: ClipVisionModel, src: WeightSource, opts: ImportOptions & { layout?: ClipLayoutName } = {}): ImportReport {
  const source = opts.source ?? (typeof src === 'string' ? src : 'safetensors');
  const file = typeof src === 'string' ? readSafetensors(src, { select: visionTower }) : src;
  const layout = clipVisionLayout(opts.layout ?? detectClipLayout(file, source), model.config.depth, model.prefix);
  return importWeights(model.params, file, withShapes(layout, model.params, model.prefix), { ...opts, source });
}

export interface ImportedClipVision extends ClipVisionModel {
  readonly layout: ClipLayoutName;
  readonly report: ImportReport;
}

/**
 * Reads a local CLIP vision tower (Hugging Face or open_clip layout, detected)
 * into a fresh parameter set. Position embeddings are resampled when
 * `imgSize` differs from the size the weights were trained at.
 */
export function importClipVision(src: WeightSource, opts: ClipImportOptions = {}): ImportedClipVision {
  const { config, layout, preprocessing, file } = inferClipVision(src, opts);
  const model = new ClipVisionModel(new ParameterSet(), config, { prefix: opts.prefix ?? '', preprocessing });
  const report = loadClipVision(model, file, { ...opts, layout, source: opts.source ?? (typeof src === 'string' ? src : undefined) });
  return Object.assign(model, { layout, report });
}

/** Writes the model in a CLIP layout (HF: vision_model.* and visual_projection.weight; open_clip: visual.*), atomically. */
export function saveClipVision(model: ClipVisionModel, path: string, layout: ClipLayoutName, metadata: Record<string, string> = {}): void {
  const bias = model.encoder.patchBias.value.data;
  if (bias.some((x) => x !== 0)) {
    throw new Error(`saveClipVision: the patch embedding has a non-zero bias, which CLIP's layout cannot hold`);
  }
  const rules = withShapes(clipVisionLayout(layout, model.config.depth, model.prefix), model.params, model.prefix);
  writeSafetensors(path, exportWeights(model.params, rules), metadata);
}
