// The debug ViT from test/fixtures/golden (timm layout, produced by PyTorch):
// logits, probabilities, the EMD loss and the gradient of every parameter.
import { describe, expect, it } from 'vitest';

import { ScoreHead } from '../../src/nn/heads.js';
import { ParameterSet } from '../../src/nn/parameters.js';
import { VisionTransformer } from '../../src/nn/vit.js';
import { emdLoss } from '../../src/ops/losses.js';
import { softmaxBackward, softmaxForward } from '../../src/ops/softmax.js';
import { Arena } from '../../src/tensor/arena.js';
import { Golden, goldenVitConfig } from '../helpers/golden.js';
import { expectClose } from '../helpers/numeric.js';

describe('debug ViT against PyTorch', () => {
  it('logits, loss and every parameter gradient', () => {
    const g = new Golden('vit_debug');
    const { config, bins } = goldenVitConfig(g);
    const params = new ParameterSet();
    const vit = new VisionTransformer(params, config);
    const head = new ScoreHead(params, config.embedDim, bins, config.depth + 1);
    // Every golden parameter maps to exactly one of ours, by timm's name.
    const goldenNames = [...g.file.tensors.keys()].filter((n) => n.startsWith('param.')).map((n) => n.slice(6));
    expect(new Set(params.list.map((p) => p.name))).toEqual(new Set(goldenNames));
    for (const p of params.list) p.value.data.set(g.array(`param.${p.name}`));

    const ctx = { arena: new Arena('test'), training: true };
    const images = g.tensor('input');
    const logits = head.forward(vit.forward(images, ctx), ctx);
    expectClose(logits.data, g.array('logits'), 1e-5, 'logits');
    const p = ctx.arena.alloc(logits.shape);
    softmaxForward(logits, p);
    expectClose(p.data, g.array('probs'), 1e-5, 'probs');
    const dp = ctx.arena.alloc(p.shape);
    const loss = emdLoss(p, g.tensor('target'), { grad: dp });
    expect(loss).toBeCloseTo(g.scalar('loss'), 6);
    const dlogits = ctx.arena.alloc(p.shape);
    softmaxBackward(p, dp, dlogits);
    params.zeroGrad();
    vit.backward(head.backward(dlogits, ctx), ctx);
    for (const param of params.list) {
      expectClose(param.grad.data, g.array(`grad.${param.name}`), 1e-4, `grad.${param.name}`);
    }
  });
});
