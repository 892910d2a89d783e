// precision: bf16 on the device, against float64 and float32 references.
//
// bf16 keeps 8 significant bits, so rounding to nearest has unit roundoff
// u = 2^-8: |round(x) − x| ≤ u |x|. Every budget below is derived from u (and
// float32's 2^-24 for the accumulators), not fitted to the results:
// - GEMM: the kernel rounds A and B to bf16 and accumulates in float32, so it
//   must equal the float64 product of the rounded operands within float32
//   accumulation, |C − Â B̂| ≤ γ_K |Â| |B̂| with γ_K = K 2^-24 / (1 − K 2^-24)
//   (plus one rounding of the epilogue). The float32 kernel must miss that
//   reference by more: bf16 really ran.
// - Attention forward: q, k rounded (relative u each) move each scaled score
//   by at most δ = scale (2u + u²) Σ_d |q_d| |k_d|, which moves each softmax
//   weight by a factor within e^{±2δ}; v and the probabilities fed to the P·V
//   product are rounded (u each). So |out − ref| ≤ ((e^{2δ} − 1) + 2u e^{2δ} + 1e-5) (P|V|).
// - A ViT step: each bf16 product perturbs its output by at most 2u relative
//   (two rounded operands); to first order the perturbations of n products add,
//   so the gradient's norm-wise relative error is within n · 2u, with n the
//   products the step ran (counted: a GEMM is one, an attention forward two,
//   an attention backward four). The same budget holds for the losses of a few
//   AdamW steps. The float32 device path meets 1e-5 on the same step
//   (vit_step.test.ts); bf16 must be farther than 1e-4 from it, or it did not run.
import { afterEach, describe, expect, it, vi } from 'vitest';

import { native } from '../../src/native.js';
import { ScoreHead } from '../../src/nn/heads.js';
import { initParameters } from '../../src/nn/init.js';
import { ParameterSet } from '../../src/nn/parameters.js';
import { VIT_DEFAULTS, VisionTransformer, type VitConfig } from '../../src/nn/vit.js';
import { attentionForward } from '../../src/ops/attention.js';
import { matmul } from '../../src/ops/gemm.js';
import { emdLossFromLogits } from '../../src/ops/losses.js';
import { withPrecision } from '../../src/ops/precision.js';
import { AdamW } from '../../src/optim/adamw.js';
import { Arena } from '../../src/tensor/arena.js';
import type { Device } from '../../src/tensor/device_memory.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';
import { Rng as TestRng, relativeError, tensorOf } from '../helpers/numeric.js';
import { DEVICE, expectDevice } from './helpers.js';

const U = 2 ** -8;
const U32 = 2 ** -24;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** x rounded to the nearest bf16 (ties to even), as __float2bfloat16_rn does. */
function bf16(x: number): number {
  f32[0] = x;
  const bits = u32[0] as number;
  u32[0] = (bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000;
  return f32[0] as number;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('bf16 GEMM on the device', () => {
  it('equals the float64 product of bf16-rounded operands within float32 accumulation', () => {
    expectDevice();
    const rng = new TestRng(7);
    const [M, N, K] = [37, 45, 70];
    const a = tensorOf(rng.normals(M * K), [M, K]);
    const b = tensorOf(rng.normals(K * N), [K, N]);
    const ah = a.data.map(bf16);
    const bh = b.data.map(bf16);
    const ref = new Float64Array(M * N);
    const mag = new Float64Array(M * N);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        let m = 0;
        for (let k = 0; k < K; k++) {
          const p = (ah[i * K + k] as number) * (bh[k * N + j] as number);
          s += p;
          m += Math.abs(p);
        }
        ref[i * N + j] = s;
        mag[i * N + j] = m;
      }
    }
    const gammaK = (K * U32) / (1 - K * U32) + U32;
    const run = (precision: 'fp32' | 'bf16') => {
      const out = Tensor.zeros([M, N]).to(DEVICE);
      withPrecision(precision, () => matmul(a.to(DEVICE), b.to(DEVICE), out));
      return out.copyToHost();
    };
    // Worst element as a multiple of its own bound (≤ 1 passes).
    const worst = (c: Float32Array) => c.reduce((w, x, i) => Math.max(w, Math.abs(x - (ref[i] as number)) / (gammaK * (mag[i] as number))), 0);
    const inBf16 = worst(run('bf16'));
    expect(inBf16, `bf16 GEMM: worst |C − ÂB̂| / (γ_K |Â||B̂|) = ${inBf16}`).toBeLessThanOrEqual(1);
    const inFp32 = worst(run('fp32'));
    expect(inFp32, 'the float32 GEMM should miss the rounded-operand reference').toBeGreaterThan(1);
  });

  it('is refused on CPU tensors, naming the op', () => {
    const a = Tensor.zeros([2, 2]);
    expect(() => withPrecision('bf16', () => matmul(a, a, Tensor.zeros([2, 2])))).toThrow(/gemm: bf16 runs only on a CUDA device/);
    expect(() => withPrecision('bf16', () => attentionForward({ q: Tensor.zeros([1, 1, 2, 4]), k: Tensor.zeros([1, 1, 2, 4]), v: Tensor.zeros([1, 1, 2, 4]), out: Tensor.zeros([1, 1, 2, 4]), lse: Tensor.zeros([1, 1, 2]) }))).toThrow(
      /attentionForward: bf16 runs only on a CUDA device/,
    );
  });
});

describe('bf16 attention forward on the device', () => {
  it('stays within the bound from rounded q, k, v and probabilities', () => {
    expectDevice();
    const rng = new TestRng(11);
    const [B, H, N, D] = [2, 2, 50, 32];
    const n = B * H * N * D;
    const q = tensorOf(rng.normals(n), [B, H, N, D]);
    const k = tensorOf(rng.normals(n), [B, H, N, D]);
    const v = tensorOf(rng.normals(n), [B, H, N, D]);
    const scale = 1 / Math.sqrt(D);
    const out = Tensor.zeros([B, H, N, D]).to(DEVICE);
    const lse = Tensor.zeros([B, H, N]).to(DEVICE);
    withPrecision('bf16', () => attentionForward({ q: q.to(DEVICE), k: k.to(DEVICE), v: v.to(DEVICE), out, lse }, scale));
    const got = out.copyToHost();
    const vh = v.data.map(bf16);
    let worst = 0;
    for (let bh = 0; bh < B * H; bh++) {
      for (let i = 0; i < N; i++) {
        const qi = (bh * N + i) * D;
        const s = new Float64Array(N);
        let delta = 0;
        for (let j = 0; j < N; j++) {
          const kj = (bh * N + j) * D;
          let dot = 0;
          let abs = 0;
          for (let d = 0; d < D; d++) {
            dot += (q.data[qi + d] as number) * (k.data[kj + d] as number);
            abs += Math.abs((q.data[qi + d] as number) * (k.data[kj + d] as number));
          }
          s[j] = dot * scale;
          delta = Math.max(delta, scale * (2 * U + U * U) * abs);
        }
        const mx = s.reduce((a, x) => Math.max(a, x), -Infinity);
        const p = s.map((x) => Math.exp(x - mx));
        const sum = p.reduce((a, x) => a + x, 0);
        const factor = Math.expm1(2 * delta) + 2 * U * Math.exp(2 * delta) + 1e-5;
        for (let d = 0; d < D; d++) {
          let o = 0;
          let mag = 0;
          for (let j = 0; j < N; j++) {
            const vj = vh[(bh * N + j) * D + d] as number;
            o += ((p[j] as number) / sum) * vj;
            mag += ((p[j] as number) / sum) * Math.abs(vj);
          }
          worst = Math.max(worst, Math.abs((got[qi + d] as number) - o) / (factor * mag));
        }
      }
    }
    expect(worst, `bf16 attention: worst error as a multiple of its bound = ${worst}`).toBeLessThanOrEqual(1);
  });
});

// 16 patches + CLS = 17 tokens, width 32, depth 2 (as vit_step.test.ts).
const tiny: VitConfig = { ...VIT_DEFAULTS, imgSize: 16, patchSize: 4, embedDim: 32, depth: 2, numHeads: 2, gelu: 'tanh' };
const BINS = 5;

function build(device: Device) {
  const params = new ParameterSet();
  const vit = new VisionTransformer(params, tiny);
  const head = new ScoreHead(params, tiny.embedDim, BINS, tiny.depth + 1);
  const rng = new TestRng(31);
  initParameters(params, new Rng(3));
  for (const p of params.list) if (p.shape.length >= 2) p.value.data.forEach((_, i, d) => (d[i] = rng.normal() * 0.2));
  params.to(device);
  return { params, vit, head, arena: new Arena('step', 1 << 16, device) };
}

type Model = ReturnType<typeof build>;

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

/** Runs fn counting the bf16 products it launched; fails if any GEMM or attention call was not bf16. */
function countingProducts<T>(fn: () => T): { result: T; products: number } {
  let products = 0;
  const calls: [string, number, number][] = [['gemm', 18, 1], ['attentionForward', 9, 2], ['attentionBackward', 13, 4]];
  const api = native as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const [name, at, weight] of calls) {
    const orig = api[name] as (...a: unknown[]) => unknown;
    vi.spyOn(api, name).mockImplementation((...args: unknown[]) => {
      expect(args[at], `${name} launched without bf16`).toBe(true);
      products += weight;
      return orig.apply(native, args);
    });
  }
  const result = fn();
  vi.restoreAllMocks();
  return { result, products };
}

describe('a ViT step in bf16 on the device', () => {
  it('gradients and a few AdamW steps stay within n · 2u of the float32 CPU step', () => {
    expectDevice();
    const rng = new TestRng(41);
    const images = tensorOf(rng.normals(2 * 3 * 16 * 16), [2, 3, 16, 16]);
    const target = tensorOf(rng.distributions(2, BINS), [2, BINS]);
    const cpu = build('cpu');
    const dev = build(DEVICE);
    const dImages = images.to(DEVICE);
    const dTarget = target.to(DEVICE);

    const lossCpu = step(cpu, images, target);
    const { result: lossDev, products } = countingProducts(() => withPrecision('bf16', () => step(dev, dImages, dTarget)));
    const budget = products * 2 * U;
    process.stdout.write(`bf16 step: ${products} products, budget n·2u = ${budget.toFixed(4)}\n`);
    expect(Math.abs(lossDev - lossCpu) / lossCpu).toBeLessThanOrEqual(budget);
    const all = relativeError(dev.params.grads.copyToHost(), cpu.params.grads.data);
    process.stdout.write(`bf16 step: gradient relative error ${all.toExponential(2)}\n`);
    expect(all, `all gradients: relative error ${all}`).toBeLessThanOrEqual(budget);
    expect(all, 'bf16 should differ from the float32 step by more than float32 round-off').toBeGreaterThan(1e-4);
    for (const p of cpu.params.list.filter((q) => q.shape.length >= 2)) {
      const e = relativeError(dev.params.get(p.name).grad.copyToHost(), p.grad.data);
      expect(e, `grad ${p.name}: relative error ${e} (budget ${budget})`).toBeLessThanOrEqual(budget);
    }

    const opts = { lr: 1e-3, weightDecay: 0.05, clipNorm: 0.5 };
    const optCpu = new AdamW(cpu.params, opts);
    const optDev = new AdamW(dev.params, opts);
    optCpu.update(1e-3);
    optDev.update(1e-3);
    for (let s = 0; s < 3; s++) {
      const lc = step(cpu, images, target);
      const ld = withPrecision('bf16', () => step(dev, dImages, dTarget));
      expect(Math.abs(ld - lc) / lc, `loss after ${s + 1} AdamW steps: ${ld} vs ${lc}`).toBeLessThanOrEqual(budget);
      optCpu.update(1e-3);
      optDev.update(1e-3);
    }
  });
});
