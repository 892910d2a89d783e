// Building blocks with explicit forward and backward over the native ops.
// Each forward saves what its backward needs (arena views, valid until the
// step's arena is reset); each backward adds parameter gradients into the
// flat gradient buffer, so micro-batches accumulate. Backward temporaries come
// from the arena's scratch, which the encoder resets after each block, so a
// step's memory grows with the saved activations only.
import { attentionBackwardPacked, attentionForwardPacked, attentionStatsPacked } from '../ops/attention.js';
import { type GeluKind, geluBackward, geluForward } from '../ops/elementwise.js';
import { linearBackward, linearForward } from '../ops/gemm.js';
import { layerNormBackward, layerNormForward } from '../ops/layernorm.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ForwardContext } from './module.js';
import type { Parameter, ParameterSet } from './parameters.js';

function notSaved(name: string): never {
  throw new Error(`${name}.backward: no saved forward (run forward with training: true first)`);
}

function outShape(x: Tensor, last: number): number[] {
  return [...x.shape.slice(0, -1), last];
}

export class Linear {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly inFeatures: number;
  readonly outFeatures: number;
  #x: Tensor | null = null;

  constructor(params: ParameterSet, name: string, inFeatures: number, outFeatures: number, opts: { bias?: boolean; layer?: number } = {}) {
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.weight = params.add(`${name}.weight`, [outFeatures, inFeatures], { decay: true, layer: opts.layer ?? 0 });
    this.bias = opts.bias === false ? null : params.add(`${name}.bias`, [outFeatures], { decay: false, layer: opts.layer ?? 0 });
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const y = ctx.arena.alloc(outShape(x, this.outFeatures));
    linearForward(x, this.weight.value, this.bias ? this.bias.value : null, y);
    this.#x = ctx.training ? x : null;
    return y;
  }

  /** Returns dx (a scratch-arena tensor), or writes into `into` (adding when accumulate). */
  backward(dy: Tensor, ctx: ForwardContext, opts: { needDx?: boolean; into?: Tensor; accumulate?: boolean } = {}): Tensor | null {
    const x = this.#x ?? notSaved('Linear');
    const needDx = opts.needDx ?? true;
    const dx = needDx ? (opts.into ?? ctx.arena.scratch.alloc(x.shape)) : null;
    linearBackward(x, this.weight.value, dy, {
      dx,
      dweight: this.weight.grad,
      dbias: this.bias ? this.bias.grad : null,
      accumulateDx: opts.accumulate ?? false,
    });
    return dx;
  }
}

export class LayerNorm {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly eps: number;
  #saved: { x: Tensor; mean: Tensor; rstd: Tensor } | null = null;

  constructor(params: ParameterSet, name: string, dim: number, eps: number, layer = 0) {
    this.eps = eps;
    this.weight = params.add(`${name}.weight`, [dim], { decay: false, layer });
    this.bias = params.add(`${name}.bias`, [dim], { decay: false, layer });
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const rows = x.size / (x.shape[x.shape.length - 1] as number);
    const y = ctx.arena.alloc(x.shape);
    const mean = ctx.arena.alloc([rows]);
    const rstd = ctx.arena.alloc([rows]);
    layerNormForward(x, this.weight.value, this.bias.value, y, mean, rstd, this.eps);
    this.#saved = ctx.training ? { x, mean, rstd } : null;
    return y;
  }

  /** Writes dx into `into` (adding to it when accumulate: the residual stream's gradient). */
  backward(dy: Tensor, into: Tensor, accumulate: boolean): void {
    const s = this.#saved ?? notSaved('LayerNorm');
    layerNormBackward(s.x, this.weight.value, s.mean, s.rstd, dy, { dx: into, dgamma: this.weight.grad, dbeta: this.bias.grad, accumulate });
  }
}

export class Mlp {
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly gelu: GeluKind;
  #u: Tensor | null = null;

  /** dim → hidden → outDim (outDim defaults to dim, the transformer MLP). */
  constructor(params: ParameterSet, name: string, dim: number, hidden: number, gelu: GeluKind, layer: number, outDim = dim) {
    this.fc1 = new Linear(params, `${name}.fc1`, dim, hidden, { layer });
    this.fc2 = new Linear(params, `${name}.fc2`, hidden, outDim, { layer });
    this.gelu = gelu;
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const u = this.fc1.forward(x, ctx);
    const g = geluForward(u, ctx.arena.alloc(u.shape), this.gelu);
    this.#u = ctx.training ? u : null;
    return this.fc2.forward(g, ctx);
  }

  backward(dy: Tensor, ctx: ForwardContext): Tensor {
    const u = this.#u ?? notSaved('Mlp');
    const dg = this.fc2.backward(dy, ctx) as Tensor;
    geluBackward(u, dg, dg, this.gelu); // in place: dg becomes du
    return this.fc1.backward(dg, ctx) as Tensor;
  }
}

export class Attention {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly heads: number;
  readonly layer: number;
  #saved: { qkv: Tensor; out: Tensor; lse: Tensor } | null = null;

  constructor(params: ParameterSet, name: string, dim: number, heads: number, qkvBias: boolean, layer: number) {
    if (dim % heads !== 0) throw new RangeError(`Attention: width ${dim} is not divisible by ${heads} heads`);
    this.heads = heads;
    this.layer = layer;
    this.qkv = new Linear(params, `${name}.qkv`, dim, 3 * dim, { bias: qkvBias, layer });
    this.proj = new Linear(params, `${name}.proj`, dim, dim, { layer });
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const [B, N, C] = x.shape as [number, number, number];
    const qkv = this.qkv.forward(x, ctx);
    const out = ctx.arena.alloc([B, N, C]);
    const lse = ctx.arena.alloc([B, this.heads, N]);
    attentionForwardPacked(qkv, this.heads, out, lse);
    const rec = ctx.attentionStats;
    if (rec) {
      const distance = ctx.arena.alloc([B, this.heads]);
      const entropy = ctx.arena.alloc([B, this.heads]);
      attentionStatsPacked(qkv, this.heads, { prefix: rec.prefix, gridH: rec.gridH, gridW: rec.gridW, patchPx: rec.patchPx }, { distance, entropy });
      rec.record(this.layer, distance, entropy);
    }
    this.#saved = ctx.training ? { qkv, out, lse } : null;
    return this.proj.forward(out, ctx);
  }

  backward(dy: Tensor, ctx: ForwardContext): Tensor {
    const s = this.#saved ?? notSaved('Attention');
    const dout = this.proj.backward(dy, ctx) as Tensor;
    const dqkv = ctx.arena.scratch.alloc(s.qkv.shape);
    attentionBackwardPacked(s.qkv, this.heads, s.out, s.lse, dout, dqkv);
    return this.qkv.backward(dqkv, ctx) as Tensor;
  }
}
