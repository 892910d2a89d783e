// Single-precision GEMM through the production matmul (the addon's own GEMM).
import { matmul } from '../../src/ops/index.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { fillUniform, rng } from '../lib/random.js';
import type { BenchCase, Suite } from '../lib/types.js';

interface GemmShape {
  m: number;
  k: number;
  n: number;
  transA: boolean;
  transB: boolean;
  /** Where the shape comes from. */
  note: string;
}

// ViT-S/16 at batch 16: 16 × 197 = 3152 tokens, width 384, MLP 1536.
const SHAPES: readonly GemmShape[] = [
  { m: 1024, k: 1024, n: 1024, transA: false, transB: false, note: 'square' },
  { m: 3152, k: 384, n: 1152, transA: false, transB: true, note: 'ViT-S qkv Linear forward, x·Wᵀ' },
  { m: 3152, k: 1536, n: 384, transA: false, transB: true, note: 'ViT-S fc2 Linear forward, x·Wᵀ' },
  { m: 1152, k: 3152, n: 384, transA: true, transB: false, note: 'ViT-S qkv weight gradient, dW = dyᵀ·x' },
];

/** Stable label (ASCII): MxKxN, then which operand is transposed. */
function label(s: GemmShape): string {
  const t = s.transA ? ' transA' : s.transB ? ' transB' : '';
  return `${s.m}x${s.k}x${s.n}${t}`;
}

function gemmCase(s: GemmShape): BenchCase {
  return {
    shape: label(s),
    flops: 2 * s.m * s.n * s.k,
    peer: { runner: 'torch', workload: 'gemm', params: { m: s.m, k: s.k, n: s.n, transA: s.transA, transB: s.transB } },
    prepare() {
      const a = Tensor.zeros(s.transA ? [s.k, s.m] : [s.m, s.k]);
      const b = Tensor.zeros(s.transB ? [s.n, s.k] : [s.k, s.n]);
      const c = Tensor.zeros([s.m, s.n]);
      fillUniform(a.data, 1);
      fillUniform(b.data, 2);
      const opts = { transA: s.transA, transB: s.transB };
      return {
        run: () => {
          matmul(a, b, c, opts);
        },
        check: () => {
          // Spot-check entries against a float64 dot product.
          const r = rng(3);
          const A = a.data;
          const B = b.data;
          for (let t = 0; t < 16; t++) {
            const i = Math.floor(r() * s.m);
            const j = Math.floor(r() * s.n);
            let ref = 0;
            let mag = 0;
            for (let p = 0; p < s.k; p++) {
              const x = (s.transA ? A[p * s.m + i] : A[i * s.k + p]) as number;
              const y = (s.transB ? B[j * s.k + p] : B[p * s.n + j]) as number;
              ref += x * y;
              mag += Math.abs(x * y);
            }
            const got = c.data[i * s.n + j] as number;
            if (!(Math.abs(got - ref) <= 1e-5 * mag + 1e-6)) return `C[${i},${j}] = ${got}, expected ${ref}`;
          }
          return null;
        },
      };
    },
  };
}

export const gemm: Suite = {
  name: 'gemm',
  title: 'GEMM (float32)',
  description:
    'cskd: `matmul(a, b, out, {transA, transB})` (the production GEMM). ' +
    'PyTorch: `torch.mm(a or aᵀ, b or bᵀ, out=c)` on the same layouts. ' +
    'Shapes are M×K×N: the square 1024³ and the ViT-S/16 (batch 16) Linear layers — qkv and fc2 forward (x·Wᵀ) and the qkv weight gradient (dyᵀ·x). ' +
    'GFLOP/s counts 2·M·N·K; % peak is against the FMA peak measured at the same thread count.',
  shapeHeader: 'M×K×N',
  cases: () => SHAPES.map(gemmCase),
};
