import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { ScoreHead } from '../../src/nn/heads.js';
import { initParameters } from '../../src/nn/init.js';
import { ParameterSet } from '../../src/nn/parameters.js';
import { VIT_DEFAULTS, VisionTransformer, type VitConfig } from '../../src/nn/vit.js';
import { emdLoss } from '../../src/ops/losses.js';
import { softmaxBackward, softmaxForward } from '../../src/ops/softmax.js';
import { AdamW } from '../../src/optim/adamw.js';
import { Ema } from '../../src/optim/ema.js';
import { cosineLr } from '../../src/optim/schedule.js';
import { Arena } from '../../src/tensor/arena.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/model/checkpoint.js';
import { Rng } from '../../src/util/rng.js';

const config: VitConfig = { ...VIT_DEFAULTS, imgSize: 16, patchSize: 4, embedDim: 32, depth: 2, numHeads: 2 };
const schedule = { lr: 2e-3, totalSteps: 20, warmupSteps: 3 };

function trainer(seed: number) {
  const params = new ParameterSet();
  const vit = new VisionTransformer(params, config);
  const head = new ScoreHead(params, config.embedDim, 5, config.depth + 1);
  initParameters(params, new Rng(seed));
  const opt = new AdamW(params, { lr: schedule.lr, clipNorm: 1 });
  const ema = new Ema(params, 0.9);
  const data = new Rng(seed + 1); // draws each step's batch: its state must survive a resume
  const arena = new Arena('step');
  const step = () => {
    const images = Tensor.zeros([4, 3, 16, 16]).fill(0);
    images.data.forEach((_, i, d) => (d[i] = data.normal()));
    const target = Tensor.zeros([4, 5]).fill(0.2);
    const ctx = { arena, training: true };
    params.zeroGrad();
    const logits = head.forward(vit.forward(images, ctx), ctx);
    const p = arena.alloc(logits.shape);
    softmaxForward(logits, p);
    const dp = arena.alloc(p.shape);
    emdLoss(p, target, { grad: dp });
    const dl = arena.alloc(p.shape);
    softmaxBackward(p, dp, dl);
    vit.backward(head.backward(dl, ctx), ctx);
    opt.update(cosineLr(schedule, opt.step));
    ema.update();
    arena.reset();
  };
  return { params, opt, ema, data, step };
}

describe('checkpoints', () => {
  it('resume is exact: 20 steps straight equal 10 + save + fresh process state + load + 10, bit for bit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cskd-ckpt-'));
    const a = trainer(7);
    for (let i = 0; i < 20; i++) a.step();

    const b = trainer(7);
    for (let i = 0; i < 10; i++) b.step();
    const path = join(dir, 'ckpt.safetensors');
    saveCheckpoint(path, { params: b.params, optimizer: b.opt, ema: b.ema, step: b.opt.step, rng: { data: b.data.state }, config });

    const c = trainer(99); // different init: everything must come from the file
    const loaded = loadCheckpoint(path, { params: c.params, optimizer: c.opt, ema: c.ema });
    c.data.state = loaded.rng['data'] as number;
    expect(loaded.step).toBe(10);
    expect(c.opt.step).toBe(10);
    expect(loaded.config).toEqual(config);
    for (let i = 0; i < 10; i++) c.step();

    expect(Buffer.from(c.params.values.data.buffer).equals(Buffer.from(a.params.values.data.buffer))).toBe(true);
    expect(Buffer.from(c.opt.v.data.buffer).equals(Buffer.from(a.opt.v.data.buffer))).toBe(true);
    expect(Buffer.from(c.ema.shadow.data.buffer).equals(Buffer.from(a.ema.shadow.data.buffer))).toBe(true);
    // Only the checkpoint is left: no temp file.
    expect(readdirSync(dir)).toEqual(['ckpt.safetensors']);
  });

  it('a checkpoint of another model is refused with every mismatch named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cskd-ckpt-'));
    const a = trainer(1);
    const path = join(dir, 'a.safetensors');
    saveCheckpoint(path, { params: a.params, step: 0 });
    const other = new ParameterSet();
    new VisionTransformer(other, { ...config, embedDim: 64 });
    expect(() => loadCheckpoint(path, { params: other })).toThrow(/checkpoint does not match the model:\n {2}patch_embed\.proj\.weight: checkpoint \[32, 3, 4, 4\], model \[64, 3, 4, 4\]/);
    const bogus = join(dir, 'bogus.safetensors');
    writeFileSync(bogus, 'not a checkpoint at all');
    expect(() => loadCheckpoint(bogus, { params: other })).toThrow(/bogus\.safetensors/);
  });
});
