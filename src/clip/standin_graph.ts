// tfjs graph models (TF-Hub's MobileNetV2 family, as nsfwjs@4.3.0 ships
// mobilenet_v2_mid) → ONNX, up to a named node, then GlobalAveragePool. The
// graph is NHWC; the ONNX is NCHW throughout, so only the kernels are
// transposed (convKernel) and the input is the usual pixel_values.
// The ops such a graph holds after tfjs's converter fused it:
//   Placeholder                          → pixel_values [N, 3, S, S]
//   Const                                → an initializer (weights manifest, dequantised)
//   Mul, Sub with a scalar Const          → Mul, Sub
//   _FusedConv2D / FusedDepthwiseConv2dNative, fused_ops BiasAdd[, Relu6]
//                                        → Conv (group = C for depthwise) [+ Clip(0, 6)]
//   AddV2                                → Add
// TF's 'SAME' padding is asymmetric where the kernel overhangs unevenly (the
// stride-2 layers: the extra row and column go at the bottom and right), so
// pads are computed from each layer's input size, tracked through the graph.
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

import type { TfjsWeights } from './standin.js';

const { onnx } = onnxProto;
const A = onnx.AttributeProto.AttributeType;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { s?: string; i?: string; f?: number; list?: { i?: string[]; s?: string[] } }>;
}

export interface TfjsGraphJson {
  modelTopology: { node: GraphNode[] };
}

export interface GraphToOnnxOptions {
  /** The node whose output is global-average-pooled into the embedding. */
  featureNode: string;
  size: number;
  producerVersion: string;
  metadata: Record<string, string>;
  docString: string;
}

export function floatTensor(name: string, dims: readonly number[], values: Float32Array): OnnxTypes.ITensorProto {
  const raw = new Uint8Array(values.byteLength);
  const dv = new DataView(raw.buffer);
  values.forEach((v, i) => dv.setFloat32(4 * i, v, true));
  return { name, dataType: FLOAT, dims: [...dims], rawData: raw };
}

/** [kh, kw, in, out] → [out, in, kh, kw] (Conv2D); [kh, kw, C, m] → [C·m, 1, kh, kw] (depthwise). */
export function convKernel(w: TfjsWeights, depthwise: boolean): { dims: number[]; data: Float32Array } {
  const [kh, kw, cin, cout] = w.shape as [number, number, number, number];
  const outCh = depthwise ? cin * cout : cout;
  const inCh = depthwise ? 1 : cin;
  const data = new Float32Array(w.data.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        for (let o = 0; o < cout; o++) {
          const src = ((y * kw + x) * cin + i) * cout + o;
          // Depthwise output channel i·m + o reads input channel i (TF's channel-multiplier order).
          const dst = depthwise ? ((i * cout + o) * kh + y) * kw + x : ((o * cin + i) * kh + y) * kw + x;
          data[dst] = w.data[src]!;
        }
      }
    }
  }
  return { dims: [outCh, inCh, kh, kw], data };
}

const text = (b64: string | undefined): string => (b64 === undefined ? '' : Buffer.from(b64, 'base64').toString('utf8'));

export function tfjsGraphCnnToOnnx(model: TfjsGraphJson, weights: Map<string, TfjsWeights>, opts: GraphToOnnxOptions): Uint8Array {
  const byName = new Map(model.modelTopology.node.map((n) => [n.name, n]));
  const nodes: OnnxTypes.INodeProto[] = [];
  const initializers: OnnxTypes.ITensorProto[] = [];
  // Graph node → [ONNX value, spatial side, channels].
  const done = new Map<string, { value: string; side: number; channels: number }>();
  let counter = 0;
  const fail = (n: GraphNode, why: string): never => {
    throw new Error(`the CLIP stand-in: graph node ${n.name} (${n.op}): ${why}`);
  };
  const weight = (name: string): TfjsWeights => {
    const w = weights.get(name);
    if (!w) throw new Error(`the CLIP stand-in: constant ${name} is not in the weights manifest`);
    return w;
  };
  const inputsOf = (n: GraphNode): string[] => (n.input ?? []).filter((i) => !i.startsWith('^')).map((i) => i.replace(/:0$/, ''));
  const emit = (opType: string, input: string[], attribute: OnnxTypes.IAttributeProto[] = []): string => {
    const name = `n${counter++}.${opType}`;
    nodes.push({ name, opType, input, output: [name], attribute });
    return name;
  };
  const param = (dims: number[], data: Float32Array): string => {
    const name = `w${initializers.length}`;
    initializers.push(floatTensor(name, dims, data));
    return name;
  };

  const convert = (name: string): { value: string; side: number; channels: number } => {
    const have = done.get(name);
    if (have) return have;
    const n = byName.get(name);
    if (!n) throw new Error(`the CLIP stand-in: the graph has no node ${name}`);
    const ins = inputsOf(n);
    let out: { value: string; side: number; channels: number };
    switch (n.op) {
      case 'Placeholder':
        out = { value: 'pixel_values', side: opts.size, channels: 3 };
        break;
      case 'Identity':
        out = convert(ins[0]!);
        break;
      case 'Mul':
      case 'Sub': {
        // Mul takes its constant on either side; Sub only as x − c.
        let [x, c] = ins.map((i) => byName.get(i));
        if (n.op === 'Mul' && x?.op === 'Const') [x, c] = [c, x];
        if (!x || !c || c.op !== 'Const') fail(n, 'only a tensor with a scalar constant (x − c, x · c) is converted');
        const k = weight(c!.name);
        if (k.data.length !== 1) fail(n, 'the constant is not a scalar');
        const a = convert(x!.name);
        out = { ...a, value: emit(n.op, [a.value, param([], k.data)]) };
        break;
      }
      case 'AddV2': {
        const [a, b] = ins.map(convert);
        if (a!.side !== b!.side || a!.channels !== b!.channels) fail(n, 'its inputs differ in shape');
        out = { ...a!, value: emit('Add', [a!.value, b!.value]) };
        break;
      }
      case '_FusedConv2D':
      case 'FusedDepthwiseConv2dNative': {
        const depthwise = n.op === 'FusedDepthwiseConv2dNative';
        const attr = n.attr ?? {};
        if (text(attr['data_format']?.s) !== 'NHWC') fail(n, 'not NHWC');
        const strides = (attr['strides']?.list?.i ?? []).map(Number);
        const dilations = (attr['dilations']?.list?.i ?? ['1', '1', '1', '1']).map(Number);
        if (strides.length !== 4 || strides[1] !== strides[2] || dilations.some((d) => d !== 1)) fail(n, `strides ${strides.join(',')} / dilations ${dilations.join(',')} not supported`);
        const fused = (attr['fused_ops']?.list?.s ?? []).map(text);
        if (fused[0] !== 'BiasAdd' || fused.length > 2 || (fused[1] !== undefined && fused[1] !== 'Relu6')) fail(n, `fused ops ${fused.join('+')} not supported`);
        const x = convert(ins[0]!);
        const w = weight(ins[1]!);
        const bias = weight(ins[2]!);
        const [kh, kw] = w.shape as [number, number];
        if (kh !== kw) fail(n, 'the kernel is not square');
        const s = strides[1]!;
        const padding = text(attr['padding']?.s);
        let side: number;
        let pads: [number, number, number, number];
        if (padding === 'SAME') {
          side = Math.ceil(x.side / s);
          const total = Math.max((side - 1) * s + kh - x.side, 0);
          const before = Math.floor(total / 2);
          pads = [before, before, total - before, total - before];
        } else if (padding === 'VALID') {
          side = Math.floor((x.side - kh) / s) + 1;
          pads = [0, 0, 0, 0];
        } else return fail(n, `padding '${padding}' not supported`);
        const k = convKernel(w, depthwise);
        const conv = emit('Conv', [x.value, param(k.dims, k.data), param([bias.data.length], bias.data)], [
          { name: 'kernel_shape', type: A.INTS, ints: [kh, kw] },
          { name: 'strides', type: A.INTS, ints: [s, s] },
          { name: 'pads', type: A.INTS, ints: pads },
          { name: 'group', type: A.INT, i: depthwise ? x.channels : 1 },
        ]);
        const value = fused[1] === 'Relu6' ? emit('Clip', [conv, param([], Float32Array.of(0)), param([], Float32Array.of(6))]) : conv;
        out = { value, side, channels: k.dims[0]! };
        break;
      }
      default:
        return fail(n, `comes before ${opts.featureNode} and has no conversion`);
    }
    done.set(name, out);
    return out;
  };

  const feature = convert(opts.featureNode);
  const pooled = emit('GlobalAveragePool', [feature.value]);
  nodes.push({ name: 'embedding', opType: 'Flatten', input: [pooled], output: ['embedding'], attribute: [{ name: 'axis', type: A.INT, i: 1 }] });
  const dim = (d: number | string): OnnxTypes.TensorShapeProto.IDimension => (typeof d === 'string' ? { dimParam: d } : { dimValue: d });
  const tensorType = (dims: (number | string)[]) => ({ tensorType: { elemType: FLOAT, shape: { dim: dims.map(dim) } } });
  const m: OnnxTypes.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'cskd',
    producerVersion: opts.producerVersion,
    docString: opts.docString,
    graph: {
      name: 'cskd-standin',
      node: nodes,
      initializer: initializers,
      input: [{ name: 'pixel_values', type: tensorType(['batch', 3, opts.size, opts.size]) }],
      output: [{ name: 'embedding', type: tensorType(['batch', feature.channels]) }],
    },
    metadataProps: Object.entries(opts.metadata).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(m).finish();
}
