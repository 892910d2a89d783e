// Whole-model checks on tiny configs: finite differences through every layer,
// and a small batch overfit with AdamW.
import { describe, expect, it } from 'vitest';

import { ScoreHead } from '../../src/nn/heads.js';
import { initParameters } from '../../src/nn/init.js';
import { ParameterSet } from '../../src/nn/parameters.js';
import { VIT_DEFAULTS, VisionTransformer, type VitConfig } from '../../src/nn/vit.js';
import { emdLoss } from '../../src/ops/losses.js';
import { softmaxBackward, softmaxForward } from '../../src/ops/softmax.js';
import { AdamW } from '../../src/optim/adamw.js';
import { Ema } from '../../src/optim/ema.js';
import { Arena } from '../../src/tensor/arena.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng as TestRng, tensorOf } from '../helpers/numeric.js';
import { Rng } from '../../src/util/rng.js';

const tiny: VitConfig = { ...VIT_DEFAULTS, imgSize: 16, patchSize: 4, embedDim: 32, depth: 2, numHeads: 2, gelu: 'tanh' };

function build(config: VitConfig, bins: number, seed: number) {
  const params = new ParameterSet();
  const vit = new VisionTransformer(params, config);
  const head = new ScoreHead(params, config.embedDim, bins, config.depth + 1);
  initParameters(params, new Rng(seed));
  return { params, vit, head };
}

/** EMD loss of the model on (images, target); with grads when `backward`. */
function lossOf(m: ReturnType<typeof build>, images: Tensor, target: Tensor, backward: boolean): number {
  const ctx = { arena: new Arena('t'), training: backward };
  const logits = m.head.forward(m.vit.forward(images, ctx), ctx);
  const p = ctx.arena.alloc(logits.shape);
  softmaxForward(logits, p);
  const dp = ctx.arena.alloc(p.shape);
  const loss = emdLoss(p, target, { grad: backward ? dp : null });
  if (backward) {
    const dl = ctx.arena.alloc(p.shape);
    softmaxBackward(p, dp, dl);
    m.vit.backward(m.head.backward(dl, ctx), ctx);
  }
  ctx.arena.reset();
  return loss;
}

describe('tiny ViT', () => {
  it('gradients of every parameter kind match finite differences of the loss', () => {
    const rng = new TestRng(21);
    const m = build(tiny, 5, 1);
    // Larger weights than the init so every path carries signal.
    for (const p of m.params.list) if (p.shape.length >= 2) p.value.data.forEach((_, i, d) => (d[i] = rng.normal() * 0.2));
    const images = tensorOf(rng.normals(2 * 3 * 16 * 16), [2, 3, 16, 16]);
    const target = tensorOf(rng.distributions(2, 5), [2, 5]);
    m.params.zeroGrad();
    lossOf(m, images, target, true);
    const names = ['patch_embed.proj.weight', 'cls_token', 'pos_embed', 'blocks.0.attn.qkv.weight', 'blocks.1.mlp.fc1.bias', 'blocks.1.norm2.weight', 'norm.bias', 'head.weight'];
    const h = 1e-2;
    for (const name of names) {
      const p = m.params.get(name);
      for (let t = 0; t < 3; t++) {
        const i = Math.floor(rng.uniform() * p.size);
        const d = p.value.data;
        const x0 = d[i] as number;
        d[i] = x0 + h;
        const lp = lossOf(m, images, target, false);
        d[i] = x0 - h;
        const lm = lossOf(m, images, target, false);
        d[i] = x0;
        const fd = (lp - lm) / (2 * h);
        const g = p.grad.data[i] as number;
        // float32 forward: the difference quotient carries ~1e-6 / h of noise.
        expect(Math.abs(g - fd), `${name}[${i}]: analytic ${g}, finite difference ${fd}`).toBeLessThan(2e-3 * Math.max(1, Math.abs(fd)) + 2e-4);
      }
    }
  });

  it('overfits a small batch with AdamW, and EMA lags the live weights', () => {
    const rng = new TestRng(22);
    const m = build(tiny, 5, 2);
    const images = tensorOf(rng.normals(4 * 3 * 16 * 16), [4, 3, 16, 16]);
    const target = tensorOf(rng.distributions(4, 5, 2), [4, 5]);
    const opt = new AdamW(m.params, { lr: 3e-3, weightDecay: 0, clipNorm: 1 });
    const ema = new Ema(m.params, 0.9);
    const first = lossOf(m, images, target, false);
    let last = first;
    for (let step = 0; step < 80; step++) {
      m.params.zeroGrad();
      last = lossOf(m, images, target, true);
      opt.update(3e-3);
      ema.update();
    }
    expect(last).toBeLessThan(first / 5);
    expect(opt.step).toBe(80);
    ema.swap();
    const emaLoss = lossOf(m, images, target, false);
    ema.swap();
    expect(emaLoss).toBeLessThan(first);
    expect(lossOf(m, images, target, false)).toBeCloseTo(last, 1);
  });
});
