// A tiny "CLIP" ONNX model whose output can be computed by hand:
// image_embeds = mean over pixels of each channel (GlobalAveragePool) @ W,
// W [3, D]; optionally also a per-token-like output [batch, 1, 3] that an
// encoder must not take for the embedding.
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

export interface TinyModelOptions {
  size: number;
  /** W, row-major [3, D]. */
  weight: Float32Array;
  dim: number;
  output?: string;
  /** Also emit a rank-3 output 'last_hidden_state'. */
  hidden?: boolean;
  metadata?: Record<string, string>;
}

export function tinyModel(o: TinyModelOptions): Uint8Array {
  const raw = new Uint8Array(o.weight.buffer.slice(o.weight.byteOffset, o.weight.byteOffset + o.weight.byteLength));
  const type = (dims: (number | string)[]) => ({ tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } });
  const nodes: OnnxTypes.INodeProto[] = [
    { name: 'pool', opType: 'GlobalAveragePool', input: ['pixel_values'], output: ['pooled4'] },
    { name: 'flat', opType: 'Flatten', input: ['pooled4'], output: ['pooled'], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
  ];
  const outputs: OnnxTypes.IValueInfoProto[] = [];
  {
    nodes.push({ name: 'proj', opType: 'MatMul', input: ['pooled', 'W'], output: [o.output ?? 'image_embeds'] });
    outputs.push({ name: o.output ?? 'image_embeds', type: type(['batch', o.dim]) });
  }
  if (o.hidden) {
    nodes.push({ name: 'hidden', opType: 'Unsqueeze', input: ['pooled', 'axes'], output: ['last_hidden_state'] });
    outputs.unshift({ name: 'last_hidden_state', type: type(['batch', 1, 3]) });
  }
  const model: OnnxTypes.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'test',
    graph: {
      name: 'tiny',
      node: nodes,
      initializer: [
        { name: 'W', dataType: FLOAT, dims: [3, o.dim], rawData: raw },
        ...(o.hidden ? [{ name: 'axes', dataType: onnx.TensorProto.DataType.INT64, dims: [1], rawData: new Uint8Array(new BigInt64Array([1n]).buffer) }] : []),
      ],
      input: [{ name: 'pixel_values', type: type(['batch', 3, o.size, o.size]) }],
      output: outputs,
    },
    metadataProps: Object.entries(o.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(model).finish();
}

/** What tinyModel computes for an image of one colour (0–255) after (x/255 − mean)/std. */
export function tinyExpected(rgb: readonly number[], mean: readonly number[], std: readonly number[], weight: Float32Array, dim: number): Float64Array {
  const out = new Float64Array(dim);
  for (let c = 0; c < 3; c++) {
    const v = (rgb[c]! / 255 - mean[c]!) / std[c]!;
    for (let d = 0; d < dim; d++) out[d] = out[d]! + v * weight[c * dim + d]!;
  }
  return out;
}
