// dp_cpu_step: a ViT-Ti/16 training step (224 px) at one global batch as
// 2 ranks × 1 thread (mpirun -np 2) against 1 process × 2 threads, side by
// side in one run. Reported: each side's step time (median), the throughput
// ratio 1-process time / 2-rank time (target ≥ 0.9), and the gradient
// all-reduce's share of the 2-rank step with its bandwidth.
//
//   npx tsx bench/dp_cpu_step.ts [--batch 8] [--steps 5]
//
// Each rank runs what the training loop runs per step: forward, backward from
// a fixed logits gradient, the gradient all-reduce (reduceGradients, one per
// step), AdamW. Inputs are fixed random tensors, so decoding is not timed.
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { reduceGradients } from '../src/dist/data_parallel.js';
import { world } from '../src/dist/world.js';
import { native } from '../src/native.js';
import { ScoreHead } from '../src/nn/heads.js';
import { initParameters } from '../src/nn/init.js';
import { ParameterSet } from '../src/nn/parameters.js';
import { vitConfig } from '../src/nn/registry.js';
import { VisionTransformer } from '../src/nn/vit.js';
import { AdamW } from '../src/optim/adamw.js';
import { Arena } from '../src/tensor/arena.js';
import { Tensor } from '../src/tensor/tensor.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'bench' },
    batch: { type: 'string', default: '8' },
    steps: { type: 'string', default: '5' },
    threads: { type: 'string', default: '1' },
  },
});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function worker(): void {
  const comm = world();
  native.setNumThreads(Number(values.threads));
  const global = Number(values.batch);
  const local = global / comm.size;
  const config = vitConfig('vit-ti16');
  const params = new ParameterSet();
  const vit = new VisionTransformer(params, config);
  const head = new ScoreHead(params, config.embedDim, 10, config.depth + 1);
  initParameters(params, new Rng(1));
  const opt = new AdamW(params, { lr: 1e-4, weightDecay: 0.05, clipNorm: 1 });
  const arena = new Arena('step', 1 << 24, 'cpu');
  const images = Tensor.from(Array.from({ length: local * 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.37 + comm.rank)), [local, 3, 224, 224]);
  const steps: number[] = [];
  const reduces: number[] = [];
  for (let s = 0; s <= Number(values.steps); s++) {
    comm.setStep(s + 1);
    const t0 = performance.now();
    const ctx = { arena, training: true };
    params.zeroGrad();
    const logits = head.forward(vit.forward(images, ctx), ctx);
    const dlogits = arena.alloc(logits.shape).fill(1e-3 / global);
    vit.backward(head.backward(dlogits, ctx), ctx);
    arena.reset();
    const t1 = performance.now();
    reduceGradients(comm, params.grads);
    const t2 = performance.now();
    opt.update(1e-4);
    if (s > 0) {
      // step 0 warms up (arena growth, first calls)
      steps.push(performance.now() - t0);
      reduces.push(t2 - t1);
    }
  }
  if (comm.rank === 0) {
    process.stdout.write(`result ${JSON.stringify({ size: comm.size, stepMs: median(steps), reduceMs: median(reduces), gradBytes: params.grads.size * 4 })}\n`);
  }
}

interface Result {
  size: number;
  stepMs: number;
  reduceMs: number;
  gradBytes: number;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Result {
  const r = spawnSync(command, args, { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  const m = /^result (.+)$/m.exec(r.stdout);
  if (!m) throw new Error(`${command} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(m[1]!) as Result;
}

function bench(): void {
  const self = fileURLToPath(import.meta.url);
  const common = ['--role', 'worker', '--batch', values.batch, '--steps', values.steps];
  const alone = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(OMPI_|PMI_|PMIX_|SLURM_)/.test(k)));
  const load0 = loadavg()[0]!;
  const one = run(process.execPath, ['--import', 'tsx', self, ...common, '--threads', '2'], alone);
  const two = run('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', '2', process.execPath, '--import', 'tsx', self, ...common, '--threads', '1'], process.env);
  const load1 = loadavg()[0]!;
  const gbps = (bytes: number, ms: number) => ((2 * bytes) / (ms / 1000) / 1e9).toFixed(2);
  console.log(`Machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} logical CPUs; load average ${load0.toFixed(2)} → ${load1.toFixed(2)}. ViT-Ti/16 224 px, global batch ${values.batch}, median of ${values.steps} steps after one warm-up.`);
  console.log('');
  console.log('| layout | step ms | all-reduce ms | all-reduce share | gradient MB | all-reduce GB/s (2 × bytes / time) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  console.log(`| 1 process × 2 threads | ${one.stepMs.toFixed(0)} | – | – | ${(one.gradBytes / 1e6).toFixed(1)} | – |`);
  console.log(`| 2 ranks × 1 thread | ${two.stepMs.toFixed(0)} | ${two.reduceMs.toFixed(1)} | ${((100 * two.reduceMs) / two.stepMs).toFixed(1)} % | ${(two.gradBytes / 1e6).toFixed(1)} | ${gbps(two.gradBytes, two.reduceMs)} |`);
  console.log('');
  console.log(`Ratio (1-process step / 2-rank step, > 1: 2 ranks faster): ${(one.stepMs / two.stepMs).toFixed(3)}× (target ≥ 0.9×)`);
}

if (values.role === 'worker') worker();
else bench();
