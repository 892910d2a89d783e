// Vision Transformer in timm's layout and parameter names (pre-norm blocks,
// CLS token, learned position embeddings), with explicit forward and backward.
import { add } from '../ops/elementwise.js';
import { embedTokensBackward, embedTokensForward, patchify, poolBackward, poolForward, type Pooling } from '../ops/embedding.js';
import type { GeluKind } from '../ops/elementwise.js';
import { linearBackward, linearForward } from '../ops/gemm.js';
import { expectShape } from '../tensor/check.js';
import type { Tensor } from '../tensor/tensor.js';
import { Attention, LayerNorm, Mlp } from './layers.js';
import type { ForwardContext } from './module.js';
import type { Parameter, ParameterSet } from './parameters.js';

export interface VitConfig {
  imgSize: number;
  patchSize: number;
  inChans: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  qkvBias: boolean;
  layerNormEps: number;
  gelu: GeluKind;
  pool: Pooling;
  /** CLIP's vision tower has a LayerNorm before the blocks (ln_pre). */
  preNorm: boolean;
}

export const VIT_DEFAULTS: Omit<VitConfig, 'embedDim' | 'depth' | 'numHeads'> = {
  imgSize: 224,
  patchSize: 16,
  inChans: 3,
  mlpRatio: 4,
  qkvBias: true,
  layerNormEps: 1e-6,
  gelu: 'erf',
  pool: 'cls',
  preNorm: false,
};

export class Block {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(params: ParameterSet, name: string, c: VitConfig, layer: number) {
    const E = c.embedDim;
    this.norm1 = new LayerNorm(params, `${name}.norm1`, E, c.layerNormEps, layer);
    this.attn = new Attention(params, `${name}.attn`, E, c.numHeads, c.qkvBias, layer);
    this.norm2 = new LayerNorm(params, `${name}.norm2`, E, c.layerNormEps, layer);
    this.mlp = new Mlp(params, `${name}.mlp`, E, Math.round(E * c.mlpRatio), c.gelu, layer);
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const x1 = add(x, this.attn.forward(this.norm1.forward(x, ctx), ctx), ctx.arena.alloc(x.shape));
    return add(x1, this.mlp.forward(this.norm2.forward(x1, ctx), ctx), ctx.arena.alloc(x.shape));
  }

  /** dx holds the gradient of the block's output; on return, of its input (updated in place). */
  backward(dx: Tensor, ctx: ForwardContext): Tensor {
    this.norm2.backward(this.mlp.backward(dx, ctx), dx, true);
    this.norm1.backward(this.attn.backward(dx, ctx), dx, true);
    return dx;
  }
}

export class VisionTransformer {
  readonly config: VitConfig;
  readonly numPatches: number;
  readonly gridSize: number;
  readonly patchWeight: Parameter;
  readonly patchBias: Parameter;
  readonly clsToken: Parameter;
  readonly posEmbed: Parameter;
  readonly normPre: LayerNorm | null;
  readonly blocks: Block[];
  readonly norm: LayerNorm;
  #saved: { patches: Tensor; batch: number } | null = null;

  constructor(params: ParameterSet, config: VitConfig, prefix = '') {
    const c = config;
    if (c.imgSize % c.patchSize !== 0) throw new RangeError(`VisionTransformer: image size ${c.imgSize} is not a multiple of patch size ${c.patchSize}`);
    this.config = { ...c };
    this.gridSize = c.imgSize / c.patchSize;
    this.numPatches = this.gridSize * this.gridSize;
    const E = c.embedDim;
    this.patchWeight = params.add(`${prefix}patch_embed.proj.weight`, [E, c.inChans, c.patchSize, c.patchSize], { decay: true, layer: 0 });
    this.patchBias = params.add(`${prefix}patch_embed.proj.bias`, [E], { decay: false, layer: 0 });
    this.clsToken = params.add(`${prefix}cls_token`, [1, 1, E], { decay: false, layer: 0 });
    this.posEmbed = params.add(`${prefix}pos_embed`, [1, this.numPatches + 1, E], { decay: false, layer: 0 });
    this.normPre = c.preNorm ? new LayerNorm(params, `${prefix}norm_pre`, E, c.layerNormEps, 0) : null;
    this.blocks = Array.from({ length: c.depth }, (_, i) => new Block(params, `${prefix}blocks.${i}`, c, i + 1));
    this.norm = new LayerNorm(params, `${prefix}norm`, E, c.layerNormEps, c.depth + 1);
  }

  get embedDim(): number {
    return this.config.embedDim;
  }

  /** Pooled features [B, E] of normalised images [B, C, H, W]. */
  forward(images: Tensor, ctx: ForwardContext): Tensor {
    const c = this.config;
    const [B] = expectShape('VisionTransformer.forward', 'images', images, [null, c.inChans, c.imgSize, c.imgSize]).shape as [number];
    const E = c.embedDim;
    const P = this.numPatches;
    const k = c.inChans * c.patchSize * c.patchSize;
    const patches = patchify(images, c.patchSize, ctx.arena.alloc([B, P, k]));
    const emb = ctx.arena.alloc([B, P, E]);
    linearForward(patches, this.patchWeight.value.reshape([E, k]), this.patchBias.value, emb);
    let x = embedTokensForward(emb, this.clsToken.value, this.posEmbed.value, ctx.arena.alloc([B, P + 1, E]));
    if (this.normPre) x = this.normPre.forward(x, ctx);
    for (const block of this.blocks) x = block.forward(x, ctx);
    const xn = this.norm.forward(x, ctx);
    this.#saved = ctx.training ? { patches, batch: B } : null;
    return poolForward(xn, ctx.arena.alloc([B, E]), c.pool);
  }

  /** Adds every parameter's gradient given the gradient of the pooled features [B, E]. */
  backward(dfeatures: Tensor, ctx: ForwardContext): void {
    const s = this.#saved;
    if (!s) throw new Error('VisionTransformer.backward: no saved forward (run forward with training: true first)');
    const c = this.config;
    const E = c.embedDim;
    const P = this.numPatches;
    const dxn = poolBackward(dfeatures, ctx.arena.alloc([s.batch, P + 1, E]), c.pool);
    let dx = ctx.arena.alloc([s.batch, P + 1, E]);
    this.norm.backward(dxn, dx, false);
    for (let i = this.blocks.length - 1; i >= 0; i--) {
      dx = (this.blocks[i] as Block).backward(dx, ctx);
      ctx.arena.scratch.reset(); // the block's backward temporaries are dead; dx lives in the main arena
    }
    if (this.normPre) {
      const dpre = ctx.arena.alloc(dx.shape);
      this.normPre.backward(dx, dpre, false);
      dx = dpre;
    }
    const demb = ctx.arena.alloc([s.batch, P, E]);
    embedTokensBackward(dx, demb, this.clsToken.grad, this.posEmbed.grad);
    const k = c.inChans * c.patchSize * c.patchSize;
    linearBackward(s.patches, this.patchWeight.value.reshape([E, k]), demb, {
      dx: null,
      dweight: this.patchWeight.grad.reshape([E, k]),
      dbias: this.patchBias.grad,
    });
  }
}
