// Whole-model benchmarks: a ViT training step (forward, EMD loss, backward,
// AdamW) at 224 px, batch 16, against the same model in PyTorch; and the
// inference forward at batch 8 against onnxruntime-node on the exported model.
import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { vitConfig } from '../../src/nn/registry.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { softmaxForward } from '../../src/ops/softmax.js';
import { AdamW } from '../../src/optim/adamw.js';
import { Arena } from '../../src/tensor/arena.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Model } from '../../src/model/model.js';
import { supervisedStep } from '../../src/train/finetune.js';
import { Rng } from '../../src/util/rng.js';
import { fillNormal, firstNonFinite } from '../lib/random.js';
import type { BenchCase, Suite } from '../lib/types.js';

const BINS = 10;

/** Forward FLOPs of the GEMMs and attention of one image (the usual ViT count). */
function forwardFlops(name: string): number {
  const c = vitConfig(name);
  const n = (c.imgSize / c.patchSize) ** 2 + 1;
  const E = c.embedDim;
  const perBlock = 2 * n * 12 * E * E + 4 * n * n * E;
  return c.depth * perBlock + 2 * (n - 1) * 3 * c.patchSize * c.patchSize * E;
}

function trainCase(name: string, batch: number): BenchCase {
  const c = vitConfig(name);
  return {
    shape: `${name} B${batch} ${c.imgSize}px`,
    flops: 3 * batch * forwardFlops(name),
    peer: { runner: 'torch', workload: 'vit', params: { img: c.imgSize, patch: c.patchSize, dim: c.embedDim, depth: c.depth, heads: c.numHeads, bins: BINS, batch, train: true } },
    prepare() {
      const model = new Model({ encoder: c, head: { kind: 'score', bins: BINS } }).init(new Rng(1));
      const opt = new AdamW(model.params, { lr: 1e-4 });
      const images = Tensor.zeros([batch, 3, c.imgSize, c.imgSize]);
      fillNormal(images.data, 31);
      const labels = Tensor.zeros([batch, BINS]).fill(1 / BINS);
      const arena = new Arena('bench');
      let loss = 0;
      return {
        run: () => {
          model.params.zeroGrad();
          loss = supervisedStep(model, images, labels, arena);
          opt.update(1e-4);
        },
        check: () => (Number.isFinite(loss) ? firstNonFinite('params', model.params.values.data) : `loss ${loss}`),
      };
    },
  };
}

function inferCase(name: string, batch: number): BenchCase {
  const c = vitConfig(name);
  const model = new Model({ encoder: c, head: { kind: 'score', bins: BINS } });
  let dir = '';
  return {
    shape: `${name} B${batch} ${c.imgSize}px`,
    flops: batch * forwardFlops(name),
    peer: {
      runner: 'inprocess',
      label: 'onnxruntime-node (cpu), the exported model',
      async prepare() {
        dir = mkdtempSync(join(tmpdir(), 'cskd-bench-'));
        const path = join(dir, 'model.onnx');
        await exportOnnx(path, { encoder: model.encoder, head: model.head, preprocessing: { size: c.imgSize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }, scoreBins: Array.from({ length: BINS }, (_, i) => i + 1) });
        const session = await InferenceSession.create(path, { intraOpNumThreads: 0 });
        const input = new Float32Array(batch * 3 * c.imgSize * c.imgSize);
        fillNormal(input, 41);
        const feeds = { pixel_values: new OrtTensor('float32', input, [batch, 3, c.imgSize, c.imgSize]) };
        return {
          runAsync: async () => {
            await session.run(feeds, ['distribution']);
          },
          dispose: async () => {
            await session.release();
            rmSync(dir, { recursive: true, force: true });
          },
        };
      },
    },
    prepare() {
      model.init(new Rng(2));
      const images = Tensor.zeros([batch, 3, c.imgSize, c.imgSize]);
      fillNormal(images.data, 41);
      const arena = new Arena('bench');
      const probs = Tensor.zeros([batch, BINS]);
      return {
        run: () => {
          softmaxForward(model.forward(images, { arena, training: false }), probs);
          arena.reset();
        },
        check: () => firstNonFinite('probabilities', probs.data),
      };
    },
  };
}

const trainDescription = (size: string) =>
  `One training step of ViT-${size}/16 with a 10-bin score head at 224 px, batch 16: forward, softmax, EMD (r = 2), backward, AdamW. ` +
  'cskd: `supervisedStep` + `AdamW.update` (src/train). PyTorch: the same architecture written out in plain PyTorch (timm is not installed here), ' +
  'eager float32, `loss.backward()` + `torch.optim.AdamW`. Images/s = 16 / (ms / 1000).';

export const vitTinyTrain: Suite = {
  name: 'vit_tiny_train',
  title: 'ViT-Ti/16 training step',
  description: trainDescription('Ti'),
  shapeHeader: 'model',
  cases: () => [trainCase('vit-ti16', 16)],
};

export const vitSmallTrain: Suite = {
  name: 'vit_small_train',
  title: 'ViT-S/16 training step',
  description: trainDescription('S'),
  shapeHeader: 'model',
  cases: () => [trainCase('vit-s16', 16)],
};

export const vitTinyInfer: Suite = {
  name: 'vit_tiny_infer',
  title: 'ViT-Ti/16 inference forward',
  description:
    'Forward + softmax of ViT-Ti/16 with a 10-bin head at 224 px, batch 8. cskd: the native forward (training: false). ' +
    'Peer: onnxruntime-node on the same weights exported by `exportOnnx`, in this process (its threads at their default).',
  shapeHeader: 'model',
  cases: () => [inferCase('vit-ti16', 8)],
};
