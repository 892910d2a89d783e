// `npx tsx bench/step_memory.ts [--model vit-s16] [--steps 3] [--json FILE]`:
// peak resident memory of a training step (224 px, batch 16, 10-bin EMD head,
// AdamW), cskd against the same model in PyTorch (bench/peer_torch.py). Each
// side runs alone in a fresh process, so the figure is the process's peak
// (ru_maxrss): parameters, gradients, optimizer state, activations, and the
// runtime itself (Node + addon, or Python + torch). Standalone rather than a
// suite because the suites share one process, whose peak mixes every case.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { model: { type: 'string', default: 'vit-s16' }, steps: { type: 'string', default: '3' }, json: { type: 'string' }, child: { type: 'boolean', default: false } } });
const BATCH = 16;
const BINS = 10;
const steps = Number(values.steps);

if (values.child) {
  // The measured side: imports inside, so the parent process stays small.
  const { vitConfig } = await import('../src/nn/registry.js');
  const { AdamW } = await import('../src/optim/adamw.js');
  const { Arena } = await import('../src/tensor/arena.js');
  const { Tensor } = await import('../src/tensor/tensor.js');
  const { Model } = await import('../src/model/model.js');
  const { supervisedStep } = await import('../src/train/finetune.js');
  const { Rng } = await import('../src/util/rng.js');
  const c = vitConfig(values.model!);
  const model = new Model({ encoder: c, head: { kind: 'score', bins: BINS } }).init(new Rng(1));
  const opt = new AdamW(model.params, { lr: 1e-4 });
  const images = Tensor.zeros([BATCH, 3, c.imgSize, c.imgSize]);
  for (let i = 0; i < images.data.length; i++) images.data[i] = Math.sin(i);
  const labels = Tensor.zeros([BATCH, BINS]).fill(1 / BINS);
  const arena = new Arena('step');
  for (let s = 0; s < steps; s++) {
    model.params.zeroGrad();
    supervisedStep(model, images, labels, arena);
    opt.update(1e-4);
  }
  console.log(JSON.stringify({ maxRssMb: process.resourceUsage().maxRSS / 1024 }));
} else {
  const here = fileURLToPath(import.meta.url);
  const cskd = spawnSync(process.execPath, ['--import', 'tsx', here, '--child', '--model', values.model!, '--steps', String(steps)], { encoding: 'utf8', env: { ...process.env, CSKD_NUM_THREADS: '2' } });
  if (cskd.status !== 0) throw new Error(`cskd side failed: ${cskd.stderr}`);
  const ours = (JSON.parse(cskd.stdout.trim().split('\n').pop()!) as { maxRssMb: number }).maxRssMb;

  const { vitConfig } = await import('../src/nn/registry.js');
  const c = vitConfig(values.model!);
  const spec = { workload: 'vit', params: { img: c.imgSize, patch: c.patchSize, dim: c.embedDim, depth: c.depth, heads: c.numHeads, bins: BINS, batch: BATCH, train: true }, threads: [1], min_time: 0, min_samples: steps };
  const python = process.env['CSKD_BENCH_PYTHON'] ?? '/usr/bin/python3';
  const torch = spawnSync(python, [`${dirname(here)}/peer_torch.py`, '-'], { input: JSON.stringify(spec), encoding: 'utf8' });
  if (torch.status !== 0) throw new Error(`PyTorch side failed: ${torch.stderr}`);
  const peer = (JSON.parse(torch.stdout.trim().split('\n').pop()!) as { max_rss_mb: number }).max_rss_mb;

  const shape = `${values.model} B${BATCH} ${c.imgSize}px, peak RSS over ${steps}+ steps`;
  console.log(`cskd    ${shape}: ${ours.toFixed(0)} MB`);
  console.log(`PyTorch ${shape}: ${peer.toFixed(0)} MB (its warm-up runs at least 3 steps)`);
  console.log(`ratio   ${(peer / ours).toFixed(2)} (PyTorch / cskd; > 1 means cskd uses less)`);
  if (values.json) {
    mkdirSync(dirname(values.json), { recursive: true });
    writeFileSync(values.json, `${JSON.stringify([{ name: 'step_memory', shape, mb: ours, peer: 'pytorch', peer_mb: peer, ratio: peer / ours }], null, 2)}\n`);
  }
}
