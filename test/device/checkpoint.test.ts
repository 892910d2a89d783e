// Checkpoints across devices: a state trained on the device, saved, resumes
// on the CPU bit for bit, and the reverse; the resumed model then computes
// the same gradients as the one that kept going.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { loadCheckpoint, saveCheckpoint } from '../../src/model/checkpoint.js';
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

const tiny: VitConfig = { ...VIT_DEFAULTS, imgSize: 8, patchSize: 4, embedDim: 16, depth: 1, numHeads: 2, gelu: 'erf' };
const BINS = 4;
const dir = mkdtempSync(join(tmpdir(), 'cskd-device-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function build(device: Device, seed: number) {
  const params = new ParameterSet();
  const vit = new VisionTransformer(params, tiny);
  const head = new ScoreHead(params, tiny.embedDim, BINS, tiny.depth + 1);
  initParameters(params, new Rng(seed));
  params.to(device);
  const optimizer = new AdamW(params, { lr: 1e-2, clipNorm: 1 });
  const ema = new Ema(params, 0.5);
  return { params, vit, head, optimizer, ema, arena: new Arena('step', 1 << 14, device) };
}
type Model = ReturnType<typeof build>;

function grads(m: Model, images: Tensor, target: Tensor): void {
  const ctx = { arena: m.arena, training: true };
  m.params.zeroGrad();
  const logits = m.head.forward(m.vit.forward(images.to(m.params.device), ctx), ctx);
  const dlogits = ctx.arena.alloc(logits.shape);
  emdLossFromLogits(logits, target.to(m.params.device), { grad: dlogits });
  m.vit.backward(m.head.backward(dlogits, ctx), ctx);
  ctx.arena.reset();
}

function train(m: Model, images: Tensor, target: Tensor): void {
  grads(m, images, target);
  m.optimizer.update(1e-2);
  m.ema.update();
}

const host = (t: Tensor): Float32Array => (t.device === 'cpu' ? t.data : t.copyToHost());

/** Values, moments and EMA of a and b are identical, and so are the next gradients. */
function expectSameState(a: Model, b: Model, images: Tensor, target: Tensor): void {
  for (const [name, x, y] of [
    ['values', a.params.values, b.params.values],
    ['m', a.optimizer.m, b.optimizer.m],
    ['v', a.optimizer.v, b.optimizer.v],
    ['ema', a.ema.shadow, b.ema.shadow],
  ] as const) {
    expect(Array.from(host(x)), name).toEqual(Array.from(host(y)));
  }
  expect(a.optimizer.step).toBe(b.optimizer.step);
  grads(a, images, target);
  grads(b, images, target);
  const err = maxRelative(host(a.params.grads), host(b.params.grads));
  expect(err, `gradients after resuming: relative error ${err}`).toBeLessThanOrEqual(1e-5);
}

describe('checkpoints across devices', () => {
  const rng = new TestRng(8);
  const images = tensorOf(rng.normals(2 * 3 * 8 * 8), [2, 3, 8, 8]);
  const target = tensorOf(rng.distributions(2, BINS), [2, BINS]);

  it('saved on the device, resumed on the CPU', () => {
    expectDevice();
    const dev = build(DEVICE, 1);
    train(dev, images, target);
    const path = join(dir, 'from-device.safetensors');
    saveCheckpoint(path, { params: dev.params, optimizer: dev.optimizer, ema: dev.ema, step: 1 });
    // The state stays where it was.
    expect(dev.params.values.device).toBe(DEVICE);
    expect(dev.optimizer.m.device).toBe(DEVICE);
    expect(dev.ema.shadow.device).toBe(DEVICE);
    const cpu = build('cpu', 2);
    const loaded = loadCheckpoint(path, { params: cpu.params, optimizer: cpu.optimizer, ema: cpu.ema });
    expect(loaded.step).toBe(1);
    expectSameState(cpu, dev, images, target);
  });

  it('saved on the CPU, resumed on the device', () => {
    const cpu = build('cpu', 3);
    train(cpu, images, target);
    const path = join(dir, 'from-cpu.safetensors');
    saveCheckpoint(path, { params: cpu.params, optimizer: cpu.optimizer, ema: cpu.ema, step: 1 });
    const dev = build(DEVICE, 4);
    loadCheckpoint(path, { params: dev.params, optimizer: dev.optimizer, ema: dev.ema });
    expect(dev.optimizer.m.device).toBe(DEVICE);
    expect(dev.params.values.device).toBe(DEVICE);
    expectSameState(dev, cpu, images, target);
  });
});
