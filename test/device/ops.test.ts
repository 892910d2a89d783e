// Every op on the device against the same op on the CPU (the CPU kernels are
// the independent reference; their own tests check them against float64).
// Inputs are drawn once on the host; each case runs on both places and every
// output is compared within 1e-5 (max-norm relative).
import { beforeAll, describe, expect, it } from 'vitest';

import { native } from '../../src/native.js';
import { attentionBackwardPacked, attentionForwardPacked, attentionStatsPacked } from '../../src/ops/attention.js';
import { add, axpy, biasAdd, biasGradient, geluBackward, geluForward, scale } from '../../src/ops/elementwise.js';
import { embedTokensBackward, embedTokensForward, patchify, patchifyBackward, poolBackward, poolForward } from '../../src/ops/embedding.js';
import { linearBackward, linearForward, matmul } from '../../src/ops/gemm.js';
import { layerNormBackward, layerNormForward } from '../../src/ops/layernorm.js';
import { alignLoss, distillLoss, emdLoss, emdLossFromLogits } from '../../src/ops/losses.js';
import { SegmentTable, adamwStep, emaUpdate, gradNorm } from '../../src/ops/optim.js';
import { softmaxBackward, softmaxForward } from '../../src/ops/softmax.js';
import type { Device } from '../../src/tensor/device_memory.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Rng, tensorOf } from '../helpers/numeric.js';
import { DEVICE, expectDevice, maxRelative } from './helpers.js';

type Outputs = Record<string, Tensor | number | undefined>;
type Body = (put: (t: Tensor) => Tensor, zeros: (shape: readonly number[]) => Tensor) => Outputs;

/** Runs `body` on the CPU and on the device; every output must agree. */
function agree(body: Body, budget = 1e-5): void {
  const on = (device: Device): Outputs =>
    body(
      (t) => Tensor.zeros(t.shape, device).copyFrom(t),
      (shape) => Tensor.zeros(shape, device),
    );
  const launches = native.deviceStats().kernelLaunches;
  const cpu = on('cpu');
  const dev = on(DEVICE);
  expect(native.deviceStats().kernelLaunches, 'the device case launched no kernel').toBeGreaterThan(launches);
  for (const [name, ref] of Object.entries(cpu)) {
    const got = dev[name];
    if (typeof ref === 'number') {
      expect(typeof got).toBe('number');
      const err = Math.abs((got as number) - ref) / Math.max(Math.abs(ref), 1e-30);
      expect(err, `${name}: ${got} vs ${ref}`).toBeLessThanOrEqual(budget);
    } else if (ref instanceof Tensor) {
      expect(got).toBeInstanceOf(Tensor);
      const t = got as Tensor;
      expect(t.device, name).toBe(DEVICE);
      const err = maxRelative(t.copyToHost(), ref.data);
      expect(err, `${name}: relative error ${err}`).toBeLessThanOrEqual(budget);
    }
  }
}

const rng = new Rng(5);
const normal = (shape: number[]): Tensor => tensorOf(rng.normals(shape.reduce((a, b) => a * b, 1)), shape);

beforeAll(expectDevice);

describe('dense ops on the device', () => {
  it('matmul: transpositions, batches, bias, beta', () => {
    const a = normal([3, 7, 5]);
    const b = normal([5, 6]);
    const bt = normal([6, 5]);
    const bias = normal([6]);
    const c0 = normal([3, 7, 6]);
    agree((put) => {
      const nn = matmul(put(a), put(b), put(c0), { bias: null });
      const nt = matmul(put(a), put(bt), put(c0), { transB: true, beta: 1, alpha: 0.5 });
      const biased = matmul(put(a.slice(0, 1).reshape([7, 5])), put(b), put(c0.slice(0, 1).reshape([7, 6])), { bias: put(bias) });
      return { nn, nt, biased };
    });
  });

  it('linear forward and backward (dx written and accumulated, dW and db added)', () => {
    const x = normal([2, 9, 12]);
    const w = normal([10, 12]);
    const bias = normal([10]);
    const dy = normal([2, 9, 10]);
    const dw0 = normal([10, 12]);
    const db0 = normal([10]);
    const dx0 = normal([2, 9, 12]);
    agree((put, zeros) => {
      const y = linearForward(put(x), put(w), put(bias), zeros([2, 9, 10]));
      const dx = put(dx0);
      const dweight = put(dw0);
      const dbias = put(db0);
      linearBackward(put(x), put(w), put(dy), { dx, dweight, dbias, accumulateDx: true });
      return { y, dx, dweight, dbias };
    });
  });

  it('layerNorm forward and backward', () => {
    const x = normal([11, 24]);
    const g = normal([24]);
    const b = normal([24]);
    const dy = normal([11, 24]);
    agree((put, zeros) => {
      const y = zeros([11, 24]);
      const mean = zeros([11]);
      const rstd = zeros([11]);
      layerNormForward(put(x), put(g), put(b), y, mean, rstd, 1e-6);
      const dx = zeros([11, 24]);
      const dgamma = zeros([24]);
      const dbeta = zeros([24]);
      layerNormBackward(put(x), put(g), mean, rstd, put(dy), { dx, dgamma, dbeta });
      return { y, mean, rstd, dx, dgamma, dbeta };
    });
  });

  it('the three GELUs, softmax, and the elementwise ops', () => {
    const x = normal([5, 13]);
    const dy = normal([5, 13]);
    const bias = normal([13]);
    agree((put, zeros) => {
      const out: Outputs = {};
      for (const kind of ['erf', 'tanh', 'quick'] as const) {
        out[`gelu.${kind}`] = geluForward(put(x), zeros([5, 13]), kind);
        out[`gelu.${kind}.dx`] = geluBackward(put(x), put(dy), put(dy), kind, true);
      }
      const p = zeros([5, 13]);
      softmaxForward(put(x), p, 0.7);
      const dp = zeros([5, 13]);
      softmaxBackward(p, put(dy), dp, 0.7);
      out['softmax'] = p;
      out['softmax.dx'] = dp;
      out['add'] = add(put(x), put(dy), zeros([5, 13]));
      out['axpy'] = axpy(-0.3, put(x), put(dy));
      out['scale'] = scale(put(x), 1.7);
      out['biasAdd'] = biasAdd(put(x), put(bias), zeros([5, 13]));
      out['biasGradient'] = biasGradient(put(dy), put(bias), true);
      return out;
    });
  });

  it('patchify, tokens and pooling, forward and backward', () => {
    const images = normal([2, 3, 8, 8]);
    const cls = normal([1, 1, 6]);
    const pos = normal([1, 5, 6]);
    const emb = normal([2, 4, 6]);
    const dtok = normal([2, 5, 6]);
    const dpool = normal([2, 6]);
    agree((put, zeros) => {
      const patches = patchify(put(images), 4, zeros([2, 4, 48]));
      const dimages = patchifyBackward(patches, 4, zeros([2, 3, 8, 8]));
      const tokens = embedTokensForward(put(emb), put(cls), put(pos), zeros([2, 5, 6]));
      const dpatches = zeros([2, 4, 6]);
      const dcls = zeros([1, 1, 6]);
      const dpos = zeros([1, 5, 6]);
      embedTokensBackward(put(dtok), dpatches, dcls, dpos);
      const clsPool = poolForward(put(dtok), zeros([2, 6]), 'cls');
      const meanPool = poolForward(put(dtok), zeros([2, 6]), 'mean');
      const dCls = poolBackward(put(dpool), zeros([2, 5, 6]), 'cls');
      const dMean = poolBackward(put(dpool), zeros([2, 5, 6]), 'mean');
      return { patches, dimages, tokens, dpatches, dcls, dpos, clsPool, meanPool, dCls, dMean };
    });
  });
});

describe('attention on the device', () => {
  it('packed forward, backward and statistics (17 tokens, 2 heads of 16)', () => {
    const [B, N, H, D] = [2, 17, 2, 16];
    const qkv = normal([B, N, 3 * H * D]);
    const dout = normal([B, N, H * D]);
    agree((put, zeros) => {
      const q = put(qkv);
      const out = zeros([B, N, H * D]);
      const lse = zeros([B, H, N]);
      attentionForwardPacked(q, H, out, lse);
      const dqkv = zeros([B, N, 3 * H * D]);
      attentionBackwardPacked(q, H, out, lse, put(dout), dqkv);
      const distance = zeros([B, H]);
      const entropy = zeros([B, H]);
      attentionStatsPacked(q, H, { gridH: 4, gridW: 4, prefix: 1, patchPx: 4 }, { distance, entropy });
      return { out, lse, dqkv, distance, entropy };
    });
  });
});

describe('losses on the device', () => {
  it('alignment (three kinds), EMD, EMD from logits and distillation: losses and gradients', () => {
    const s = normal([4, 10]);
    const t = normal([4, 10]);
    const w = tensorOf([0.5, 1, 1.5, 1], [4]);
    const probs = tensorOf(rng.distributions(4, 10), [4, 10]);
    const target = tensorOf(rng.distributions(4, 10), [4, 10]);
    agree((put, zeros) => {
      const out: Outputs = {};
      for (const kind of ['cosine', 'mse', 'smooth-l1'] as const) {
        const grad = zeros([4, 10]);
        out[`align.${kind}`] = alignLoss(put(s), put(t), { kind, grad, weights: put(w), gradScale: 0.5 });
        out[`align.${kind}.grad`] = grad;
      }
      const ge = zeros([4, 10]);
      out['emd'] = emdLoss(put(probs), put(target), { grad: ge });
      out['emd.grad'] = ge;
      const gl = zeros([4, 10]);
      const pl = zeros([4, 10]);
      out['emdLogits'] = emdLossFromLogits(put(s), put(target), { grad: gl, probs: pl, weights: put(w) });
      out['emdLogits.grad'] = gl;
      out['emdLogits.probs'] = pl;
      for (const kind of ['kl', 'soft-ce'] as const) {
        const gd = zeros([4, 10]);
        out[`distill.${kind}`] = distillLoss(put(s), put(t), { kind, temperature: 2, grad: gd });
        out[`distill.${kind}.grad`] = gd;
      }
      // The same loss into a device scalar: no value returned, the scalar holds it.
      const into = zeros([1]);
      const none = emdLoss(put(probs), put(target), { into });
      expect(none).toBeUndefined();
      out['emd.into'] = into;
      return out;
    });
  });
});

describe('optimizer kernels on the device', () => {
  it('AdamW over uneven segments with gaps, the sum of squares, EMA', () => {
    const n = 300;
    const p = normal([n]);
    const g = normal([n]);
    const m0 = normal([n]);
    const v0 = tensorOf(rng.normals(n).map((x) => x * x), [n]);
    const table = new SegmentTable([
      { start: 0, length: 100, lr: 1e-2, weightDecay: 0.05 },
      { start: 112, length: 37, lr: 3e-3, weightDecay: 0 },
      { start: 160, length: 140, lr: 1e-3, weightDecay: 0.1 },
    ]);
    agree((put) => {
      const param = put(p);
      const m = put(m0);
      const v = put(v0);
      adamwStep(param, put(g), m, v, table, { step: 3, gradScale: 0.7 });
      const ema = put(m0);
      emaUpdate(ema, param, 0.9);
      return { param, m, v, ema, sumSq: gradNorm(put(g)) };
    });
  });
});

describe('placement checks', () => {
  it('an op on tensors of two devices is a TypeError naming the op and both devices', () => {
    const a = normal([4, 4]);
    const b = a.to(DEVICE);
    expect(() => add(a, b, Tensor.zeros([4, 4]))).toThrow(TypeError);
    expect(() => add(a, b, Tensor.zeros([4, 4]))).toThrow(`add: tensors on different devices (a on cpu, b on ${DEVICE}, out on cpu)`);
    expect(() => linearForward(b, a, null, Tensor.zeros([4, 4], DEVICE))).toThrow(/^linearForward: tensors on different devices \(x on cuda:0, weight on cpu, y on cuda:0\)/);
    expect(() => emdLoss(b, a)).toThrow(/emdLoss: tensors on different devices/);
  });

  it('device memory is not readable from JS; to(), copyToHost() and copyFrom() move it', () => {
    const a = normal([3, 5]);
    const d = a.to(DEVICE);
    expect(d.device).toBe(DEVICE);
    expect(() => d.data).toThrow(TypeError);
    expect(() => d.data).toThrow(`tensor [3, 5] is on ${DEVICE}: read it with copyToHost() or to('cpu')`);
    expect(Array.from(d.copyToHost())).toEqual(Array.from(a.data));
    expect(Array.from(d.slice(1, 2).copyToHost())).toEqual(Array.from(a.data.subarray(5, 10)));
    const back = d.to('cpu');
    expect(back.device).toBe('cpu');
    expect(Array.from(back.data)).toEqual(Array.from(a.data));
    const e = Tensor.zeros([3, 5], 'cuda');
    e.copyFrom(d);
    e.slice(2, 3).fill(7);
    expect(e.toArray()).toEqual([...Array.from(a.data.subarray(0, 10)), 7, 7, 7, 7, 7]);
    expect(d.to(DEVICE)).toBe(d);
    expect(() => Tensor.zeros([1], 'cuda:7' as Device)).toThrow(/cuda:7 is not available/);
  });
});
