// One training step of a tiny ViT with its score head on the device against
// the same step on the CPU: gradients first (within 1e-5), then the
// parameters after three AdamW steps with clipping (within 1e-4), then EMA.
import { describe, expect, it } from 'vitest';

import { ScoreHead } from '../../src/nn/heads.js';
import { initParameters } from '../../src/nn/init.js';
import { ParameterSet } from '../../src/nn/parameters.js';
import { VIT_DEFAULTS, VisionTransformer, type VitConfig } from '../../src/nn/vit.js';
import { emdLossFromLogits } from '../../src/ops/losses.js';
import { AdamW } from '../../src/optim/adamw.js';
import { Ema } from '../../src/optim/ema.js';
import { Arena } from '../../src/tensor/arena.js';
import type { Device } from '../../src/tensor/device_memory.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';
import { Rng as TestRng, tensorOf } from '../helpers/numeric.js';
import { DEVICE, expectDevice, maxRelative } from './helpers.js';

// 16 patches + CLS = 17 tokens, width 32, depth 2: the emulation's budget.
const tiny: VitConfig = { ...VIT_DEFAULTS, imgSize: 16, patchSize: 4, embedDim: 32, depth: 2, numHeads: 2, gelu: 'tanh' };
const BINS = 5;

function build(device: Device) {
  const params = new ParameterSet();
  const vit = new VisionTransformer(params, tiny);
  const head = new ScoreHead(params, tiny.embedDim, BINS, tiny.depth + 1);
  const rng = new TestRng(31);
  initParameters(params, new Rng(3));
  // Larger weights than the init so every path carries signal.
  for (const p of params.list) if (p.shape.length >= 2) p.value.data.forEach((_, i, d) => (d[i] = rng.normal() * 0.2));
  params.to(device);
  return { params, vit, head, arena: new Arena('step', 1 << 16, device) };
}

type Model = ReturnType<typeof build>;

/** Forward, EMD loss on softmax(logits), backward into params.grads; returns the loss. */
function step(m: Model, images: Tensor, target: Tensor): number {
  const ctx = { arena: m.arena, training: true };
  m.params.zeroGrad();
  const logits = m.head.forward(m.vit.forward(images, ctx), ctx);
  const dlogits = ctx.arena.alloc(logits.shape);
  const loss = emdLossFromLogits(logits, target, { grad: dlogits });
  m.vit.backward(m.head.backward(dlogits, ctx), ctx);
  ctx.arena.reset();
  return loss;
}

describe('a ViT training step on the device', () => {
  it('gradients match the CPU step, then three AdamW steps and EMA match', () => {
    expectDevice();
    const rng = new TestRng(41);
    const images = tensorOf(rng.normals(2 * 3 * 16 * 16), [2, 3, 16, 16]);
    const target = tensorOf(rng.distributions(2, BINS), [2, BINS]);
    const cpu = build('cpu');
    const dev = build(DEVICE);
    expect(dev.params.values.device).toBe(DEVICE);
    const dImages = images.to(DEVICE);
    const dTarget = target.to(DEVICE);

    const lossCpu = step(cpu, images, target);
    const lossDev = step(dev, dImages, dTarget);
    expect(Math.abs(lossDev - lossCpu) / lossCpu).toBeLessThanOrEqual(1e-5);
    for (const p of cpu.params.list) {
      const g = dev.params.get(p.name).grad;
      expect(g.device).toBe(DEVICE);
      const err = maxRelative(g.copyToHost(), p.grad.data);
      expect(err, `grad ${p.name}: relative error ${err}`).toBeLessThanOrEqual(1e-5);
    }

    const opts = { lr: 1e-3, weightDecay: 0.05, clipNorm: 0.5 };
    const optCpu = new AdamW(cpu.params, opts);
    const optDev = new AdamW(dev.params, opts);
    expect(optDev.m.device).toBe(DEVICE);
    const emaCpu = new Ema(cpu.params, 0.9);
    const emaDev = new Ema(dev.params, 0.9);
    for (let s = 0; s < 3; s++) {
      if (s > 0) {
        step(cpu, images, target);
        step(dev, dImages, dTarget);
      }
      const rc = optCpu.update(1e-3);
      const rd = optDev.update(1e-3);
      expect(Math.abs(rd.gradNorm - rc.gradNorm) / rc.gradNorm).toBeLessThanOrEqual(1e-5);
      emaCpu.update();
      emaDev.update();
    }
    // The key part of each qkv bias has a gradient of exactly zero in real
    // arithmetic (it adds the same q·b to every score of a row, which softmax
    // cancels), so both sides hold round-off there (~1e-10) and AdamW scales
    // that noise to lr-sized steps. Those elements are checked to be noise and
    // left out of the comparison; every other parameter element is compared.
    const C = tiny.embedDim;
    const keep = new Uint8Array(cpu.params.values.size).fill(1);
    const gmax = cpu.params.grads.data.reduce((a, g) => Math.max(a, Math.abs(g)), 0);
    for (const p of cpu.params.list.filter((q) => q.name.endsWith('attn.qkv.bias'))) {
      for (let i = C; i < 2 * C; i++) {
        expect(Math.abs(p.grad.data[i] as number)).toBeLessThan(1e-6 * gmax);
        keep[p.offset + i] = 0;
      }
    }
    const pick = (a: Float32Array): number[] => Array.from(a).filter((_, i) => keep[i] === 1);
    const err = maxRelative(pick(dev.params.values.copyToHost()), pick(cpu.params.values.data));
    expect(err, `parameters after 3 steps: relative error ${err}`).toBeLessThanOrEqual(1e-4);
    for (const [name, a, b] of [['m', optDev.m, optCpu.m], ['v', optDev.v, optCpu.v], ['ema', emaDev.shadow, emaCpu.shadow]] as const) {
      const e = maxRelative(pick(a.copyToHost()), pick(b.data));
      expect(e, `${name}: relative error ${e}`).toBeLessThanOrEqual(1e-4);
    }
    // The arena kept its block: steady steps allocate nothing new.
    expect(dev.arena.capacity).toBe(cpu.arena.capacity);
  });
});
