// EMD loss (NIMA, r = 2) from logits: softmax → EMD → gradient back to the logits.
import { emdLossFromLogits } from '../../src/ops/index.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { fillNormal, firstNonFinite, softmaxRows } from '../lib/random.js';
import type { BenchCase, Suite } from '../lib/types.js';

function emdCase(B: number, K: number): BenchCase {
  return {
    shape: `${B}x${K}`,
    peer: { runner: 'torch', workload: 'emd', params: { B, K } },
    prepare() {
      const logits = Tensor.zeros([B, K]);
      const target = Tensor.zeros([B, K]);
      const dlogits = Tensor.zeros([B, K]);
      fillNormal(logits.data, 31);
      softmaxRows(fillNormal(target.data, 32), B, K);
      let loss = 0;
      return {
        run: () => {
          loss = emdLossFromLogits(logits, target, { grad: dlogits });
        },
        check: () => (Number.isFinite(loss) && loss > 0 ? firstNonFinite('dlogits', dlogits.data) : `loss is ${loss}`),
      };
    },
  };
}

export const emd: Suite = {
  name: 'emd',
  title: 'EMD loss forward + backward (from logits)',
  description:
    'cskd: `emdLossFromLogits(logits, target, {grad})`, the production path of the score head (softmax, EMD and the gradient w.r.t. the logits in one native pass). ' +
    'PyTorch: `softmax` → `sqrt(mean((cumsum(p) − cumsum(t))²) + 1e-12).mean()` → `torch.autograd.grad` w.r.t. the logits.',
  shapeHeader: 'B×K',
  cases: () => [emdCase(4096, 10)],
};
