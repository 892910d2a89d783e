// Phase-1 feature alignment loss, mean(1 − cos), forward + backward.
import { alignLoss } from '../../src/ops/index.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { fillNormal, firstNonFinite } from '../lib/random.js';
import type { BenchCase, Suite } from '../lib/types.js';

function alignCase(B: number, D: number): BenchCase {
  return {
    shape: `${B}x${D}`,
    peer: { runner: 'torch', workload: 'align', params: { B, D } },
    prepare() {
      const student = Tensor.zeros([B, D]);
      const clip = Tensor.zeros([B, D]);
      const grad = Tensor.zeros([B, D]);
      fillNormal(student.data, 41);
      fillNormal(clip.data, 42);
      let loss = 0;
      return {
        run: () => {
          loss = alignLoss(student, clip, { kind: 'cosine', grad });
        },
        check: () => (Number.isFinite(loss) && loss > 0 ? firstNonFinite('grad', grad.data) : `loss is ${loss}`),
      };
    },
  };
}

export const align: Suite = {
  name: 'align',
  title: 'Alignment loss (1 − cosine) forward + backward',
  description:
    'cskd: `alignLoss(student, clip, {kind: "cosine", grad})`, one native pass. ' +
    'PyTorch: `(1 − F.cosine_similarity(s, c, dim=1, eps=1e-8)).mean()` → `torch.autograd.grad` w.r.t. s.',
  shapeHeader: 'B×D',
  cases: () => [alignCase(256, 512)],
};
