// LayerNorm forward + backward over ViT-S activations (batch 16 × 197 tokens × 2 = 6304 rows).
import { layerNormBackward, layerNormForward } from '../../src/ops/index.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { fillNormal, firstNonFinite } from '../lib/random.js';
import type { BenchCase, Suite } from '../lib/types.js';

function layerNormCase(rows: number, cols: number): BenchCase {
  const eps = 1e-6;
  return {
    shape: `${rows}x${cols}`,
    // Least traffic: forward reads x, writes y; backward reads x, dy, writes dx.
    bytes: 5 * rows * cols * 4,
    peer: { runner: 'torch', workload: 'layernorm', params: { rows, cols, eps } },
    prepare() {
      const x = Tensor.zeros([rows, cols]);
      const y = Tensor.zeros([rows, cols]);
      const dy = Tensor.zeros([rows, cols]);
      const dx = Tensor.zeros([rows, cols]);
      const gamma = Tensor.zeros([cols]);
      const beta = Tensor.zeros([cols]);
      const dgamma = Tensor.zeros([cols]);
      const dbeta = Tensor.zeros([cols]);
      const mean = Tensor.zeros([rows]);
      const rstd = Tensor.zeros([rows]);
      fillNormal(x.data, 21);
      fillNormal(dy.data, 22);
      fillNormal(gamma.data, 23, 1, 0.1);
      fillNormal(beta.data, 24, 0, 0.1);
      const grads = { dx, dgamma, dbeta };
      return {
        run: () => {
          layerNormForward(x, gamma, beta, y, mean, rstd, eps);
          // dgamma/dbeta accumulate (as over micro-batches); PyTorch returns fresh ones.
          layerNormBackward(x, gamma, mean, rstd, dy, grads);
        },
        check: () => firstNonFinite('y', y.data) ?? firstNonFinite('dx', dx.data) ?? firstNonFinite('dgamma', dgamma.data),
      };
    },
  };
}

export const layernorm: Suite = {
  name: 'layernorm',
  title: 'LayerNorm forward + backward',
  description:
    'cskd: `layerNormForward` then `layerNormBackward` (dx, dgamma, dbeta). ' +
    'PyTorch: `F.layer_norm` then `torch.autograd.grad(y, (x, gamma, beta), dy)`. eps 1e-6. ' +
    'GB/s counts the least traffic (x, y, x, dy, dx).',
  shapeHeader: 'rows×cols',
  cases: () => [layerNormCase(6304, 384)],
};
