// Export of an encoder and its head to ONNX, standard operators only, opset 17.
//
// The graph is built from the module structure, one ONNX node per step of the
// native forward, so the two can be read side by side:
//   pixel_values [batch, C, H, W] (already normalised)
//   → Conv (patch embedding) → tokens, CLS prepended (Expand to the batch), + pos_embed
//   → [norm_pre] → blocks (LayerNormalization, packed-qkv attention, GELU MLP, residuals)
//   → norm → CLS token or mean of the patch tokens
//   → ScoreHead: logits, distribution = softmax(logits), mean = Σ_k bins_k · p_k
//     Projector or no head: embedding
// Choices:
// - Opset 17: LayerNormalization exists there; GELU is written as its formula
//   (erf, tanh or x·sigmoid(1.702x)) because the Gelu operator needs opset 20.
// - Weights are initializers under their parameter names (timm layout), raw
//   float32 little-endian; Linear weights [out, in] keep that layout and a
//   Transpose node feeds MatMul (runtimes fold it into the constant).
// - Only the batch dimension is dynamic; the image size is the encoder's.
// - Protobuf caps a message at 2 GiB; larger models would need ONNX external
//   data, which this exporter does not write (it says so).
import { endianness } from 'node:os';

import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

import { packageVersion } from '../util/package.js';
import { writeFileAtomicSync } from '../util/atomic_file.js';
import { Projector, ScoreHead } from '../nn/heads.js';
import type { Attention, LayerNorm, Linear, Mlp } from '../nn/layers.js';
import type { Parameter } from '../nn/parameters.js';
import type { VisionTransformer } from '../nn/vit.js';
import type { GeluKind } from '../ops/elementwise.js';
import { METADATA_FORMAT_VERSION, type OnnxPreprocessing, type OnnxTask, validatePreprocessing } from './metadata.js';

const { onnx } = onnxProto;

export const ONNX_OPSET = 17;
const IR_VERSION = 8; // the IR that goes with opset 17
const MAX_PROTO_BYTES = 2 ** 31 - 1;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const A = onnx.AttributeProto.AttributeType;

export const INPUT_NAME = 'pixel_values';

export interface OnnxExportOptions {
  encoder: VisionTransformer;
  /** ScoreHead → logits, distribution, mean; Projector or none → embedding. */
  head?: ScoreHead | Projector | null;
  /**
   * The preprocessing the model was trained with. mean and std are required
   * (they are the ones the training view used); size is the encoder's image
   * size; resize defaults to size, interpolation to 'bicubic', scale to 1/255.
   */
  preprocessing: Partial<OnnxPreprocessing> & Pick<OnnxPreprocessing, 'mean' | 'std'>;
  /** Score of each bin (ScoreHead only); default 1..K. */
  scoreBins?: readonly number[];
  /** Extra entries merged into model_config (e.g. preset name, training run). */
  modelConfig?: Record<string, unknown>;
  /** Graph name. */
  name?: string;
}

const intAttr = (name: string, i: number): OnnxTypes.IAttributeProto => ({ name, type: A.INT, i });
const floatAttr = (name: string, f: number): OnnxTypes.IAttributeProto => ({ name, type: A.FLOAT, f });
const intsAttr = (name: string, ints: readonly number[]): OnnxTypes.IAttributeProto => ({ name, type: A.INTS, ints: [...ints] });

function littleEndianBytes(values: Float32Array | BigInt64Array): Uint8Array {
  if (endianness() === 'LE') return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const out = new Uint8Array(values.byteLength);
  const view = new DataView(out.buffer);
  if (values instanceof Float32Array) values.forEach((v, i) => view.setFloat32(4 * i, v, true));
  else values.forEach((v, i) => view.setBigInt64(8 * i, v, true));
  return out;
}

/** Nodes and initializers of one graph; each node has one output named after it. */
class GraphBuilder {
  readonly nodes: OnnxTypes.INodeProto[] = [];
  readonly initializers: OnnxTypes.ITensorProto[] = [];
  readonly #names = new Set<string>();
  readonly #constants = new Map<string, string>();
  #count = 0;

  #claim(name: string): string {
    if (this.#names.has(name)) throw new Error(`exportOnnx: duplicate graph value '${name}'`);
    this.#names.add(name);
    return name;
  }

  /** A float32 initializer. */
  tensor(name: string, dims: readonly number[], values: Float32Array): string {
    this.initializers.push({ name: this.#claim(name), dataType: FLOAT, dims: [...dims], rawData: littleEndianBytes(values) });
    return name;
  }

  parameter(p: Parameter): string {
    const v = p.value;
    return this.tensor(p.name, p.shape, v.device === 'cpu' ? v.data : v.copyToHost());
  }

  /** A shared float scalar constant. */
  scalar(value: number): string {
    const key = `f:${value}`;
    let name = this.#constants.get(key);
    if (!name) {
      name = this.tensor(`const.f${this.#constants.size}`, [], Float32Array.of(value));
      this.#constants.set(key, name);
    }
    return name;
  }

  /** A shared int64 constant: a vector, or a scalar when `scalar`. */
  ints(values: readonly number[], scalar = false): string {
    const key = `i:${scalar}:${values.join(',')}`;
    let name = this.#constants.get(key);
    if (!name) {
      name = this.#claim(`const.i${this.#constants.size}`);
      const dims = scalar ? [] : [values.length];
      this.initializers.push({ name, dataType: INT64, dims, rawData: littleEndianBytes(BigInt64Array.from(values, (v) => BigInt(v))) });
      this.#constants.set(key, name);
    }
    return name;
  }

  /** Adds a node; returns its output's name (`output` or one derived from scope and op). */
  node(scope: string, opType: string, inputs: readonly string[], attribute: OnnxTypes.IAttributeProto[] = [], output?: string): string {
    const name = `${scope}/${opType}_${this.#count++}`;
    const out = this.#claim(output ?? name);
    this.nodes.push({ name, opType, input: [...inputs], output: [out], attribute });
    return out;
  }
}

function linear(g: GraphBuilder, x: string, l: Linear, scope: string, output?: string): string {
  const wt = g.node(scope, 'Transpose', [g.parameter(l.weight)], [intsAttr('perm', [1, 0])]);
  if (!l.bias) return g.node(scope, 'MatMul', [x, wt], [], output);
  const y = g.node(scope, 'MatMul', [x, wt]);
  return g.node(scope, 'Add', [y, g.parameter(l.bias)], [], output);
}

function layerNorm(g: GraphBuilder, x: string, ln: LayerNorm, scope: string): string {
  return g.node(scope, 'LayerNormalization', [x, g.parameter(ln.weight), g.parameter(ln.bias)], [intAttr('axis', -1), floatAttr('epsilon', ln.eps)]);
}

function gelu(g: GraphBuilder, x: string, kind: GeluKind, scope: string): string {
  switch (kind) {
    case 'erf': {
      // 0.5 · x · (1 + erf(x / √2))
      const e = g.node(scope, 'Erf', [g.node(scope, 'Mul', [x, g.scalar(Math.SQRT1_2)])]);
      const half = g.node(scope, 'Mul', [x, g.scalar(0.5)]);
      return g.node(scope, 'Mul', [half, g.node(scope, 'Add', [e, g.scalar(1)])]);
    }
    case 'tanh': {
      // 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))
      const x3 = g.node(scope, 'Mul', [g.node(scope, 'Mul', [x, x]), x]);
      const inner = g.node(scope, 'Add', [x, g.node(scope, 'Mul', [x3, g.scalar(0.044715)])]);
      const t = g.node(scope, 'Tanh', [g.node(scope, 'Mul', [inner, g.scalar(Math.sqrt(2 / Math.PI))])]);
      const half = g.node(scope, 'Mul', [x, g.scalar(0.5)]);
      return g.node(scope, 'Mul', [half, g.node(scope, 'Add', [t, g.scalar(1)])]);
    }
    case 'quick': {
      // x · sigmoid(1.702 · x), CLIP's QuickGELU
      const s = g.node(scope, 'Sigmoid', [g.node(scope, 'Mul', [x, g.scalar(1.702)])]);
      return g.node(scope, 'Mul', [x, s]);
    }
    default:
      throw new TypeError(`exportOnnx: GELU kind '${String(kind)}' has no ONNX export (supported: erf, tanh, quick)`);
  }
}

function mlp(g: GraphBuilder, x: string, m: Mlp, scope: string, output?: string): string {
  const h = gelu(g, linear(g, x, m.fc1, `${scope}.fc1`), m.gelu, `${scope}.gelu`);
  return linear(g, h, m.fc2, `${scope}.fc2`, output);
}

/** Multi-head self-attention over x [B, N, E] with the packed qkv projection. */
function attention(g: GraphBuilder, x: string, attn: Attention, embedDim: number, scope: string): string {
  const H = attn.heads;
  const D = embedDim / H;
  const qkv = linear(g, x, attn.qkv, `${scope}.qkv`); // [B, N, 3E]
  const split = g.node(scope, 'Reshape', [qkv, g.ints([0, 0, 3, H, D])]); // [B, N, 3, H, D]
  const heads = g.node(scope, 'Transpose', [split], [intsAttr('perm', [2, 0, 3, 1, 4])]); // [3, B, H, N, D]
  const [q, k, v] = [0, 1, 2].map((i) => g.node(scope, 'Gather', [heads, g.ints([i], true)], [intAttr('axis', 0)])) as [string, string, string];
  const kt = g.node(scope, 'Transpose', [k], [intsAttr('perm', [0, 1, 3, 2])]); // [B, H, D, N]
  const scores = g.node(scope, 'Mul', [g.node(scope, 'MatMul', [q, kt]), g.scalar(1 / Math.sqrt(D))]); // [B, H, N, N]
  const probs = g.node(scope, 'Softmax', [scores], [intAttr('axis', -1)]);
  const out = g.node(scope, 'MatMul', [probs, v]); // [B, H, N, D]
  const merged = g.node(scope, 'Transpose', [out], [intsAttr('perm', [0, 2, 1, 3])]); // [B, N, H, D]
  const flat = g.node(scope, 'Reshape', [merged, g.ints([0, 0, embedDim])]);
  return linear(g, flat, attn.proj, `${scope}.proj`);
}

/** Pooled features [batch, E] of pixel_values, as VisionTransformer.forward computes them. */
function encoderGraph(g: GraphBuilder, vit: VisionTransformer, input: string): string {
  const c = vit.config;
  const E = c.embedDim;
  const conv = g.node('patch_embed', 'Conv', [input, g.parameter(vit.patchWeight), g.parameter(vit.patchBias)], [
    intsAttr('kernel_shape', [c.patchSize, c.patchSize]),
    intsAttr('strides', [c.patchSize, c.patchSize]),
  ]); // [B, E, gh, gw]
  const patches = g.node('patch_embed', 'Transpose', [g.node('patch_embed', 'Reshape', [conv, g.ints([0, E, -1])])], [intsAttr('perm', [0, 2, 1])]); // [B, P, E]
  const batch = g.node('cls_token', 'Shape', [input], [intAttr('start', 0), intAttr('end', 1)]);
  const clsShape = g.node('cls_token', 'Concat', [batch, g.ints([1, 1])], [intAttr('axis', 0)]);
  const cls = g.node('cls_token', 'Expand', [g.parameter(vit.clsToken), clsShape]); // [B, 1, E]
  const tokens = g.node('pos_embed', 'Concat', [cls, patches], [intAttr('axis', 1)]);
  let x = g.node('pos_embed', 'Add', [tokens, g.parameter(vit.posEmbed)]); // [B, N, E]
  if (vit.normPre) x = layerNorm(g, x, vit.normPre, 'norm_pre');
  vit.blocks.forEach((block, i) => {
    const s = `blocks.${i}`;
    const x1 = g.node(s, 'Add', [x, attention(g, layerNorm(g, x, block.norm1, `${s}.norm1`), block.attn, E, `${s}.attn`)]);
    x = g.node(s, 'Add', [x1, mlp(g, layerNorm(g, x1, block.norm2, `${s}.norm2`), block.mlp, `${s}.mlp`)]);
  });
  const xn = layerNorm(g, x, vit.norm, 'norm');
  switch (c.pool) {
    case 'cls':
      return g.node('pool', 'Gather', [xn, g.ints([0], true)], [intAttr('axis', 1)]);
    case 'mean': {
      const rest = g.node('pool', 'Slice', [xn, g.ints([1]), g.ints([vit.numPatches + 1]), g.ints([1])]);
      return g.node('pool', 'ReduceMean', [rest], [intsAttr('axes', [1]), intAttr('keepdims', 0)]);
    }
    default:
      throw new TypeError(`exportOnnx: pooling '${String(c.pool)}' has no ONNX export (supported: cls, mean)`);
  }
}

function valueInfo(name: string, dims: readonly (number | string)[], doc: string): OnnxTypes.IValueInfoProto {
  return {
    name,
    docString: doc,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  };
}

function resolvePreprocessing(vit: VisionTransformer, given: OnnxExportOptions['preprocessing']): OnnxPreprocessing {
  const size = vit.config.imgSize;
  if (given.size !== undefined && given.size !== size) {
    throw new RangeError(`exportOnnx: preprocessing.size ${given.size} differs from the encoder's image size ${size}`);
  }
  return validatePreprocessing('exportOnnx', {
    size,
    resize: given.resize ?? size,
    crop: given.crop ?? 'center',
    interpolation: given.interpolation ?? 'bicubic',
    scale: given.scale ?? 1 / 255,
    mean: given.mean && [...given.mean],
    std: given.std && [...given.std],
    channels: given.channels ?? 'RGB',
    layout: given.layout ?? 'NCHW',
  });
}

/** The ONNX model (serialised ModelProto) of an encoder and its head. */
export function buildOnnxModel(opts: OnnxExportOptions): Uint8Array {
  const vit = opts.encoder;
  const head = opts.head ?? null;
  const c = vit.config;
  if (vit.config.inChans !== 3) throw new RangeError(`exportOnnx: ${c.inChans}-channel encoders are not supported (the preprocessing metadata describes RGB)`);
  const preprocessing = resolvePreprocessing(vit, opts.preprocessing);
  const g = new GraphBuilder();
  const features = encoderGraph(g, vit, INPUT_NAME);
  const outputs: OnnxTypes.IValueInfoProto[] = [];
  let task: OnnxTask;
  let headConfig: Record<string, unknown> | null;
  let scoreBins: number[] | null = null;
  if (head instanceof ScoreHead) {
    const K = head.bins;
    scoreBins = opts.scoreBins ? [...opts.scoreBins] : Array.from({ length: K }, (_, k) => k + 1);
    if (scoreBins.length !== K || !scoreBins.every(Number.isFinite)) {
      throw new RangeError(`exportOnnx: scoreBins must be ${K} finite numbers (one per bin of the head), got ${scoreBins.length}`);
    }
    const logits = linear(g, features, head.linear, 'head', 'logits');
    const dist = g.node('head', 'Softmax', [logits], [intAttr('axis', -1)], 'distribution');
    g.node('head', 'MatMul', [dist, g.tensor('score_bins', [K], Float32Array.from(scoreBins))], [], 'mean');
    outputs.push(
      valueInfo('logits', ['batch', K], 'score head logits'),
      valueInfo('distribution', ['batch', K], 'softmax(logits): probability of each score bin'),
      valueInfo('mean', ['batch'], 'mean score Σ_k score_bins[k] · distribution[k]'),
    );
    task = 'score';
    headConfig = { kind: 'score', bins: K, name: head.linear.weight.name.replace(/\.weight$/, '') };
  } else if (head instanceof Projector) {
    const m = head.mlp;
    mlp(g, features, m, m.fc1.weight.name.replace(/\.fc1\.weight$/, ''), 'embedding');
    outputs.push(valueInfo('embedding', ['batch', m.fc2.outFeatures], 'projected features'));
    task = 'embedding';
    headConfig = { kind: 'projector', hidden: m.fc1.outFeatures, out: m.fc2.outFeatures, gelu: m.gelu };
  } else if (head === null) {
    g.node('pool', 'Identity', [features], [], 'embedding');
    outputs.push(valueInfo('embedding', ['batch', c.embedDim], 'pooled encoder features'));
    task = 'embedding';
    headConfig = null;
  } else {
    const kind = (head as object).constructor?.name ?? typeof head;
    throw new TypeError(`exportOnnx: head ${kind} has no ONNX export (supported: ScoreHead, Projector, or none)`);
  }

  const version = packageVersion();
  const modelConfig = { ...opts.modelConfig, encoder: { ...c }, head: headConfig };
  const metadata: Record<string, string> = {
    producer: 'cskd',
    producer_version: version,
    format_version: METADATA_FORMAT_VERSION,
    task,
    preprocessing: JSON.stringify(preprocessing),
    model_config: JSON.stringify(modelConfig),
  };
  if (scoreBins) metadata['score_bins'] = JSON.stringify(scoreBins);

  const model: OnnxTypes.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'cskd',
    producerVersion: version,
    docString: `cskd ${task} model; input ${INPUT_NAME} [batch, 3, ${c.imgSize}, ${c.imgSize}] preprocessed as metadata 'preprocessing' says`,
    graph: {
      name: opts.name ?? 'cskd',
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(INPUT_NAME, ['batch', 3, c.imgSize, c.imgSize], 'RGB images, resized, cropped and normalised (metadata preprocessing)')],
      output: outputs,
    },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  const weightBytes = g.initializers.reduce((s, t) => s + (t.rawData?.length ?? 0), 0);
  if (weightBytes > MAX_PROTO_BYTES - (1 << 24)) {
    throw new RangeError(`exportOnnx: ${weightBytes} bytes of weights exceed protobuf's 2 GiB limit (ONNX external data is not supported)`);
  }
  return onnx.ModelProto.encode(model).finish();
}

/** Exports an encoder and head to an .onnx file (written atomically). */
export async function exportOnnx(path: string, opts: OnnxExportOptions): Promise<void> {
  writeFileAtomicSync(path, buildOnnxModel(opts));
}
