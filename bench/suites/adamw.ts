// One fused AdamW step over a flat buffer the size of ViT-S/16 (22 M parameters).
import { SegmentTable, adamwStep } from '../../src/ops/index.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { fillUniform, firstNonFinite } from '../lib/random.js';
import type { BenchCase, Suite } from '../lib/types.js';

function adamwCase(n: number): BenchCase {
  const lr = 1e-3;
  const weightDecay = 0.05;
  return {
    shape: `${n}`,
    // Reads param, grad, m, v; writes param, m, v.
    bytes: 7 * n * 4,
    peer: { runner: 'torch', workload: 'adamw', params: { n, lr, weightDecay } },
    prepare() {
      const param = Tensor.zeros([n]);
      const grad = Tensor.zeros([n]);
      const m = Tensor.zeros([n]);
      const v = Tensor.zeros([n]);
      fillUniform(param.data, 51, -0.02, 0.02);
      fillUniform(grad.data, 52, -0.01, 0.01);
      const segments = new SegmentTable([{ start: 0, length: n, lr, weightDecay }]);
      let step = 0;
      return {
        run: () => {
          adamwStep(param, grad, m, v, segments, { step: ++step });
        },
        check: () => firstNonFinite('param', param.data) ?? firstNonFinite('v', v.data),
      };
    },
  };
}

export const adamw: Suite = {
  name: 'adamw',
  title: 'AdamW step',
  description:
    'cskd: `adamwStep` (fused; one segment, lr 1e-3, weight decay 0.05). ' +
    'PyTorch: `torch.optim.AdamW([p]).step()` with p.grad set (1.13 default: the single-tensor path). ' +
    'GB/s counts the least traffic (read param, grad, m, v; write param, m, v).',
  shapeHeader: 'parameters',
  cases: () => [adamwCase(22_000_000)],
};
