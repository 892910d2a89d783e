// gpu_vit_s_train / gpu_vit_b_train: training images per second of a ViT on a
// CUDA device at 224 px in bf16, against timm's same model in PyTorch eager
// with SDPA (bench/peer_timm.py) on the same GPU in the same run, with MFU.
//
//   npx tsx bench/gpu_train.ts --model vit-s16|vit-b16 [--batch N] [--steps 20]
//       [--json FILE] [--no-peer]
//   npx tsx bench/gpu_train.ts --tiny   (a narrow ViT that the emulated device
//       runs: CSKD_EMULATED_DEVICE=1, for a dry run of the GPU script)
//
// The step is the training loop's (src/train/loop.ts): zero the gradients,
// EMD through softmax on the score head under withPrecision('bf16') (float32
// master weights, softmax, norms and loss), the loss read back, then AdamW
// with weight decay 0.05 and gradient clipping at norm 1 (one more read: the
// norm). Two input modes, the same on both sides:
//   device  the batch already on the device (the GPU's ceiling)
//   upload  a host batch per step, sent as the loop sends it: copied into
//           pinned staging and uploaded on the copy stream (src/tensor/upload.ts);
//           the peer: pin_memory() and .to(non_blocking=True)
// The batch is the largest of 256, 192, 128, 96, 64, 48, 32, … predicted to fit
// in 90 % of the device's free memory from one step at a small batch (--batch
// fixes it; the peer runs at the same batch). Times: wall clock over --steps
// steps after warm-up, synchronised at both ends.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Model } from '../src/model/model.js';
import { native } from '../src/native.js';
import { type VitConfig, VIT_DEFAULTS } from '../src/nn/vit.js';
import { vitConfig } from '../src/nn/registry.js';
import { withPrecision } from '../src/ops/precision.js';
import { AdamW } from '../src/optim/adamw.js';
import { Arena } from '../src/tensor/arena.js';
import { type Device, synchronize } from '../src/tensor/device_memory.js';
import { Tensor } from '../src/tensor/tensor.js';
import { Upload } from '../src/tensor/upload.js';
import { supervisedStep } from '../src/train/finetune.js';
import { Rng } from '../src/util/rng.js';
import { bf16PeakFlops, vitTrainFlopsPerImage } from './lib/vit_flops.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'vit-s16' },
    batch: { type: 'string' },
    steps: { type: 'string' },
    warmup: { type: 'string', default: '3' },
    json: { type: 'string' },
    'no-peer': { type: 'boolean' },
    tiny: { type: 'boolean' },
  },
});

const BINS = 10;
const DEVICE: Device = 'cuda:0';
const CANDIDATES = [256, 192, 128, 96, 64, 48, 32, 24, 16, 12, 8, 4, 2, 1];
const TINY: VitConfig = { ...VIT_DEFAULTS, imgSize: 16, patchSize: 8, embedDim: 32, depth: 1, numHeads: 2 };

if (native.deviceCount() === 0) throw new Error(`gpu_train needs a CUDA device: ${native.cudaInfo().reason ?? ''} (CSKD_EMULATED_DEVICE=1 with --tiny for the emulated one)`);
const tiny = values.tiny === true;
const name = tiny ? 'vit-tiny-dry-run' : (values.model as string);
const config = tiny ? TINY : vitConfig(name);
const steps = Number(values.steps ?? (tiny ? 1 : 20));
const warmup = tiny ? 1 : Number(values.warmup);
const maxBatch = tiny ? 2 : 256;
const deviceInfo = native.cudaInfo().devices[0];
const deviceName = deviceInfo?.name ?? 'device';

const model = new Model({ encoder: config, head: { kind: 'score', bins: BINS } }).to(DEVICE).init(new Rng(0));
const opt = new AdamW(model.params, { lr: 1e-4, weightDecay: 0.05, clipNorm: 1 });
const arena = new Arena('gpu_train', 1 << 20, DEVICE);
const rng = new Rng(1);

function hostBatch(B: number): { images: Tensor; labels: Tensor } {
  const S = config.imgSize;
  const images = new Float32Array(B * 3 * S * S);
  for (let i = 0; i < images.length; i++) images[i] = rng.uniform() * 4 - 2;
  const labels = new Float32Array(B * BINS);
  for (let b = 0; b < B; b++) {
    let sum = 0;
    for (let k = 0; k < BINS; k++) sum += labels[b * BINS + k] = rng.uniform() + 0.05;
    for (let k = 0; k < BINS; k++) labels[b * BINS + k]! /= sum;
  }
  return { images: new Tensor(images, [B, 3, S, S]), labels: new Tensor(labels, [B, BINS]) };
}

/** One training step as the loop takes it; returns the loss. */
function step(images: Tensor, labels: Tensor): number {
  model.params.zeroGrad();
  const loss = withPrecision('bf16', () => supervisedStep(model, images, labels, arena));
  opt.update(1e-4);
  return loss;
}

function deviceBytesInUse(): number {
  return native.deviceMemory(0).inUse;
}

/** The largest candidate batch predicted to fit, from one step at a small batch. */
function chooseBatch(): { batch: number; given: boolean; perImageBytes: number; fixedBytes: number; freeBytes: number } {
  const free = native.deviceMemory(0).free + deviceBytesInUse();
  const b0 = Math.min(8, maxBatch);
  const probe = hostBatch(b0);
  step(probe.images.to(DEVICE), probe.labels.to(DEVICE));
  synchronize(DEVICE);
  const activations = arena.capacity + arena.scratch.capacity;
  const perImage = activations / b0;
  // What stays whatever the batch: weights, gradients, moments, the allocator's
  // other blocks (both batches of the upload mode are counted per image).
  const fixed = deviceBytesInUse() - activations;
  const fits = (B: number) => fixed + B * (perImage + 2 * 4 * (3 * config.imgSize ** 2 + BINS)) <= 0.9 * free;
  const batch = values.batch ? Number(values.batch) : (CANDIDATES.find((B) => B <= maxBatch && fits(B)) ?? 1);
  return { batch, given: values.batch !== undefined, perImageBytes: perImage, fixedBytes: fixed, freeBytes: free };
}

interface Timing {
  mode: 'device' | 'upload';
  ms: number;
  imagesPerSecond: number;
  loss: number;
}

function time(mode: 'device' | 'upload', B: number): Timing {
  // Two host batches, alternated, so the upload mode never re-sends one buffer the cache still holds.
  const host = [hostBatch(B), hostBatch(B)];
  const resident = host.map((h) => ({ images: h.images.to(DEVICE), labels: h.labels.to(DEVICE) }));
  let loss = 0;
  const run = (i: number) => {
    if (mode === 'device') {
      const r = resident[i % 2]!;
      loss = step(r.images, r.labels);
      return;
    }
    const h = host[i % 2]!;
    const images = new Upload(h.images, DEVICE);
    const labels = new Upload(h.labels, DEVICE);
    try {
      loss = step(images.tensor, labels.tensor);
    } finally {
      images.release();
      labels.release();
    }
  };
  for (let i = 0; i < warmup; i++) run(i);
  synchronize(DEVICE);
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) run(i);
  synchronize(DEVICE);
  const ms = (performance.now() - t0) / steps;
  return { mode, ms, imagesPerSecond: (B * 1000) / ms, loss };
}

interface PeerOut {
  ok: boolean;
  reason?: string;
  torch?: string;
  timm?: string;
  device?: string;
  results?: { mode: string; ms: number; imagesPerSecond: number }[];
}

function runPeer(B: number): PeerOut {
  if (values['no-peer']) return { ok: false, reason: '--no-peer' };
  const spec = { model: tiny ? null : name, config, bins: BINS, batch: B, steps, warmup, modes: ['device', 'upload'], device: deviceInfo?.emulated ? 'cpu' : 'cuda' };
  const python = process.env['PYTHON'] ?? 'python3';
  const r = spawnSync(python, [join(import.meta.dirname, 'peer_timm.py'), JSON.stringify(spec)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.error) return { ok: false, reason: `${python}: ${r.error.message}` };
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as PeerOut;
  } catch {
    return { ok: false, reason: `peer exit ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}` };
  }
}

const chosen = chooseBatch();
const B = chosen.batch;
const ours = [time('device', B), time('upload', B)];
const peer = runPeer(B);
const flops = vitTrainFlopsPerImage(config, BINS);
const peak = deviceInfo?.emulated ? null : bf16PeakFlops(deviceName);
const mfu = (ips: number) => (peak === null ? 'n/a' : `${((100 * ips * flops) / peak).toFixed(1)} %`);
const bench = tiny ? 'gpu_train --tiny (dry run)' : `gpu_${name.replace(/^vit-(\w+?)16$/, 'vit_$1')}_train`;

console.log(`${bench}: ${name} at ${config.imgSize} px, bf16, batch ${B} (${chosen.given ? 'given' : `largest ≤ ${maxBatch} predicted to fit: ${(chosen.perImageBytes / 2 ** 20).toFixed(1)} MiB per image + ${(chosen.fixedBytes / 2 ** 20).toFixed(0)} MiB fixed of ${(chosen.freeBytes / 2 ** 30).toFixed(1)} GiB`}), ${steps} steps after ${warmup} warm-up`);
console.log(`Device: ${deviceName}${deviceInfo?.emulated ? ' (emulated)' : ''}; host ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} logical CPUs; peer: ${peer.ok ? `timm ${peer.timm}, torch ${peer.torch} eager + SDPA, fused AdamW` : `not run (${peer.reason})`}`);
console.log(`Training FLOPs per image ${(flops / 1e9).toFixed(2)} G (3 × forward); MFU against ${peak === null ? 'no known peak' : `${(peak / 1e12).toFixed(0)} TFLOP/s dense bf16 (datasheet)`}`);
console.log('');
console.log('| input | cskd img/s | cskd ms/step | cskd MFU | timm img/s | timm MFU | cskd / timm |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const o of ours) {
  const p = peer.results?.find((r) => r.mode === o.mode);
  const ratio = p ? `${(o.imagesPerSecond / p.imagesPerSecond).toFixed(2)}×` : 'n/a';
  console.log(`| ${o.mode} | ${o.imagesPerSecond.toFixed(1)} | ${o.ms.toFixed(2)} | ${mfu(o.imagesPerSecond)} | ${p ? p.imagesPerSecond.toFixed(1) : 'n/a'} | ${p ? mfu(p.imagesPerSecond) : 'n/a'} | ${ratio} |`);
}
if (!ours.every((o) => Number.isFinite(o.loss))) throw new Error(`gpu_train: a non-finite loss (${ours.map((o) => o.loss).join(', ')})`);
if (values.json) {
  writeFileSync(values.json, `${JSON.stringify({ bench, model: name, config, device: deviceName, batch: B, steps, flopsPerImage: flops, peakFlops: peak, cskd: ours, peer }, null, 2)}\n`);
}
