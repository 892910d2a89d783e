// launch_overhead: what one ViT-S training step costs the host in kernel
// launches, from JS, and whether that can keep a GPU busy.
//
//   CSKD_EMULATED_DEVICE=1 npx tsx bench/launch_overhead.ts [--steps 5]
//   (on a GPU machine, without CSKD_EMULATED_DEVICE, against the real device)
//
// The step is ViT-S/16's: depth 12, 6 heads, the score head, forward and
// backward with AdamW, as the training loop runs it. How many kernels it
// launches does not depend on the image size, the batch or the width (every
// op is one or a fixed number of launches), so the count is taken on a narrow
// ViT of the same depth and heads that the emulated device can run. The host
// time per step is measured with the compute stream held back (a host function
// sleeping on it), so every launch only enqueues and nothing waits for a
// kernel: what is left is the JS ops layer, N-API and the runtime's enqueue.
// On the emulated device that enqueue is the emulation's (a mutex and a queue),
// not cudaLaunchKernel; on a GPU the same script measures the real one.
//
// Printed: launches per step, host µs per launch and per step, against the
// step's GPU time predicted from its FLOPs at 40 % of the H200's bf16 dense
// peak (989 TFLOP/s) for ViT-S/16 at 224 px and batches 32–256. Launch-bound
// means the host needs longer to enqueue a step than the GPU to run it.
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';

import { ScoreHead } from '../src/nn/heads.js';
import { initParameters } from '../src/nn/init.js';
import { ParameterSet } from '../src/nn/parameters.js';
import { vitConfig } from '../src/nn/registry.js';
import { VIT_DEFAULTS, VisionTransformer, type VitConfig } from '../src/nn/vit.js';
import { native } from '../src/native.js';
import { AdamW } from '../src/optim/adamw.js';
import { Arena } from '../src/tensor/arena.js';
import { synchronize } from '../src/tensor/device_memory.js';
import { Tensor } from '../src/tensor/tensor.js';
import { Rng } from '../src/util/rng.js';
import { vitTrainFlopsPerImage } from './lib/vit_flops.js';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '5' } } });
const DEVICE = 'cuda:0';
if (native.deviceCount() === 0) throw new Error(`launch_overhead needs a device: ${native.cudaInfo().reason ?? ''} (set CSKD_EMULATED_DEVICE=1 for the emulated one)`);

// ViT-S/16's depth and heads; narrow and small so the emulation runs it.
const narrow: VitConfig = { ...VIT_DEFAULTS, imgSize: 16, patchSize: 4, embedDim: 48, depth: 12, numHeads: 6 };
const BINS = 10;
const B = 2;
const params = new ParameterSet();
const vit = new VisionTransformer(params, narrow);
const head = new ScoreHead(params, narrow.embedDim, BINS, narrow.depth + 1);
initParameters(params, new Rng(1));
params.to(DEVICE);
const opt = new AdamW(params, { lr: 1e-4, weightDecay: 0.05, clipNorm: 1 });
const arena = new Arena('step', 1 << 20, DEVICE);
const images = Tensor.from(Array.from({ length: B * 3 * 16 * 16 }, (_, i) => Math.sin(i)), [B, 3, 16, 16], DEVICE);

/** Forward, backward from a fixed logits gradient, AdamW without clipping's read: nothing waits for the device. */
function enqueueStep(): void {
  const ctx = { arena, training: true };
  params.zeroGrad();
  const logits = head.forward(vit.forward(images, ctx), ctx);
  const dlogits = arena.alloc(logits.shape).fill(1e-3);
  vit.backward(head.backward(dlogits, ctx), ctx);
  arena.reset();
}

// Warm-up: arena sized, kernels' first calls done, AdamW's state made.
enqueueStep();
opt.update(1e-4);
synchronize(DEVICE);

const steps = Number(values.steps);
native.deviceHoldStream(0, 5000, false);
const launches0 = native.deviceStats().kernelLaunches;
const t0 = performance.now();
for (let s = 0; s < steps; s++) enqueueStep();
const hostMs = (performance.now() - t0) / steps;
const launches = (native.deviceStats().kernelLaunches - launches0) / steps;
if (performance.now() - t0 > 4000) throw new Error('the steps outlasted the 5 s hold: the host time includes waits');
synchronize(DEVICE);
// AdamW's launches, counted apart: its update reads the gradient norm, so it cannot run under the hold.
const l1 = native.deviceStats().kernelLaunches;
opt.update(1e-4);
const adamwLaunches = native.deviceStats().kernelLaunches - l1;

const perLaunchUs = (hostMs * 1000) / launches;
const stepLaunches = launches + adamwLaunches;
const hostStepMs = (stepLaunches * perLaunchUs) / 1000;

// ViT-S/16 at 224 px (bench/lib/vit_flops.ts): training = 3 × the forward's FLOPs.
const trainFlopsPerImage = vitTrainFlopsPerImage(vitConfig('vit-s16'), BINS);
const peak = 989e12 * 0.4;

const name = native.cudaInfo().devices[0]?.name ?? 'device';
console.log(`Machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} logical CPUs; device: ${name}. ${steps} steps timed after one warm-up.`);
console.log('');
console.log('| launches per step (fwd + bwd) | AdamW launches | host µs per launch | host ms per step |');
console.log('| ---: | ---: | ---: | ---: |');
console.log(`| ${launches} | ${adamwLaunches} | ${perLaunchUs.toFixed(2)} | ${hostStepMs.toFixed(2)} |`);
console.log('');
console.log('| ViT-S/16 224 px batch | predicted GPU ms per step (40 % of 989 TFLOP/s) | host ms per step | launch-bound? |');
console.log('| ---: | ---: | ---: | --- |');
for (const batch of [32, 64, 128, 256]) {
  const gpuMs = ((trainFlopsPerImage * batch) / peak) * 1000;
  console.log(`| ${batch} | ${gpuMs.toFixed(2)} | ${hostStepMs.toFixed(2)} | ${hostStepMs > gpuMs ? 'yes' : 'no'} |`);
}
