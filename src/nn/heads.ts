// Heads on top of an encoder's pooled features.
//   ScoreHead: Linear to K logits; the score distribution is softmax(logits).
//   Projector: the phase-1 alignment MLP, width → hidden → CLIP embedding width
//              (Linear, GELU, Linear; hidden defaults to the CLIP width).
import type { Tensor } from '../tensor/tensor.js';
import { Linear, Mlp } from './layers.js';
import type { ForwardContext } from './module.js';
import type { ParameterSet } from './parameters.js';

export class ScoreHead {
  readonly linear: Linear;
  readonly bins: number;

  constructor(params: ParameterSet, inFeatures: number, bins: number, layer: number, name = 'head') {
    this.bins = bins;
    this.linear = new Linear(params, name, inFeatures, bins, { layer });
  }

  forward(features: Tensor, ctx: ForwardContext): Tensor {
    return this.linear.forward(features, ctx);
  }

  backward(dlogits: Tensor, ctx: ForwardContext): Tensor {
    return this.linear.backward(dlogits, ctx) as Tensor;
  }
}

export class Projector {
  readonly mlp: Mlp;

  constructor(params: ParameterSet, inFeatures: number, outFeatures: number, layer: number, hidden = outFeatures, name = 'proj') {
    this.mlp = new Mlp(params, name, inFeatures, hidden, 'erf', layer, outFeatures);
  }

  forward(features: Tensor, ctx: ForwardContext): Tensor {
    return this.mlp.forward(features, ctx);
  }

  backward(dy: Tensor, ctx: ForwardContext): Tensor {
    return this.mlp.backward(dy, ctx);
  }
}
