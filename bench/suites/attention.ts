// Multi-head attention forward + backward, the ViT-S/16 layer at batch 32.
import { attentionBackward, attentionForward } from '../../src/ops/index.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { fillNormal, firstNonFinite } from '../lib/random.js';
import type { BenchCase, Suite } from '../lib/types.js';

function attentionCase(B: number, H: number, N: number, D: number): BenchCase {
  const shape = [B, H, N, D];
  return {
    shape: `B${B} H${H} N${N} D${D}`,
    // Useful work: forward q·kᵀ and p·v (4·B·H·N²·D), backward four products (8·B·H·N²·D).
    flops: 12 * B * H * N * N * D,
    peer: { runner: 'torch', workload: 'attention', params: { B, H, N, D } },
    prepare() {
      const [q, k, v, out, dout, dq, dk, dv] = Array.from({ length: 8 }, () => Tensor.zeros(shape)) as [
        Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor,
      ];
      const lse = Tensor.zeros([B, H, N]);
      fillNormal(q.data, 11);
      fillNormal(k.data, 12);
      fillNormal(v.data, 13);
      fillNormal(dout.data, 14);
      const t = { q, k, v, out, lse };
      const g = { dout, dq, dk, dv };
      return {
        run: () => {
          attentionForward(t);
          attentionBackward(t, g);
        },
        check: () => {
          // Row 0 of head (0, 0) against a float64 softmax(q·kᵀ/√D)·v.
          const scale = 1 / Math.sqrt(D);
          const s = new Float64Array(N);
          let max = -Infinity;
          for (let j = 0; j < N; j++) {
            let dot = 0;
            for (let d = 0; d < D; d++) dot += (q.data[d] as number) * (k.data[j * D + d] as number);
            s[j] = dot * scale;
            max = Math.max(max, s[j] as number);
          }
          let sum = 0;
          for (let j = 0; j < N; j++) sum += (s[j] = Math.exp((s[j] as number) - max));
          for (let d = 0; d < D; d++) {
            let ref = 0;
            for (let j = 0; j < N; j++) ref += ((s[j] as number) / sum) * (v.data[j * D + d] as number);
            const got = out.data[d] as number;
            if (!(Math.abs(got - ref) <= 1e-4 * (1 + Math.abs(ref)))) return `out[0,0,0,${d}] = ${got}, expected ${ref}`;
          }
          return firstNonFinite('dq', dq.data) ?? firstNonFinite('dk', dk.data) ?? firstNonFinite('dv', dv.data);
        },
      };
    },
  };
}

export const attention: Suite = {
  name: 'attention',
  title: 'Attention forward + backward',
  description:
    'cskd: `attentionForward` then `attentionBackward` on separate [B, H, N, D] q, k, v (fused, log-sum-exp saved). ' +
    'PyTorch 1.13 (no SDPA): timm\'s `softmax(q·kᵀ·scale)·v`, then `torch.autograd.grad(out, (q, k, v), dout)`. ' +
    'GFLOP/s counts the useful 12·B·H·N²·D (forward 4, backward 8).',
  shapeHeader: 'shape',
  cases: () => [attentionCase(32, 6, 197, 64)],
};
