// `npx tsx bench/standin_probe.ts [--data dataset.json] [--models a,b] [--backend wasm|cpu]`:
// which of nsfwjs@4.3.0's three networks knows a dataset's labels best, as the
// offline stand-in for CLIP. Each network runs through @tensorflow/tfjs (not
// cskd's converter), cut at its pooled features; the labeled images are
// embedded with cskd's decoder at the network's centre-crop view into a
// feature store, and cskd's ridge probe (src/eval/probe.ts) is fitted on the
// train split and scored by SRCC on the evaluation split, with a bootstrap 95%
// interval and a paired bootstrap of the SRCC difference to mobilenet_v2
// (the first stand-in; the same resampled images for both). The stand-in as
// cskd runs it (its ONNX conversion on onnxruntime) is probed too,
// as a check of the converter. Without --data it generates the demo's labeled
// images (src/train/demo.ts: 120 train, 54 test, 96 px).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import type { ClipEncoder } from '../src/clip/encoder.js';
import { encoderView } from '../src/clip/encoder.js';
import { buildFeatureStore } from '../src/clip/feature_store.js';
import { openClipEncoder } from '../src/clip/open.js';
import { NSFWJS_MODELS, type NsfwjsModelName, STANDIN_NETWORK } from '../src/clip/standin.js';
import { type LabeledSplit, findSplit, loadDataset } from '../src/data/datasets.js';
import { generateDemo } from '../src/data/demo.js';
import { srcc } from '../src/eval/metrics.js';
import { type FeatureMatrix, bootstrapSrcc, chooseLambda, ridgeFit, ridgePredict } from '../src/eval/probe.js';
import { Rng } from '../src/util/rng.js';
import { nsfwjsTfjsEncoder, useTfjsBackend } from './lib/nsfwjs_tfjs.js';
import { describeMachine } from './lib/machine.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    models: { type: 'string', default: [...NSFWJS_MODELS, 'standin'].join(',') },
    backend: { type: 'string', default: 'wasm' },
    train: { type: 'string', default: 'train' },
    eval: { type: 'string', default: 'test' },
    out: { type: 'string' },
    bootstrap: { type: 'string', default: '2000' },
  },
});

const out = resolve(values.out ?? mkdtempSync(join(tmpdir(), 'cskd-standin-probe-')));
const dataPath = values.data ? resolve(values.data) : (await generateDemo({ outDir: join(out, 'demo-data'), size: 96, unlabeledPerSource: 0 })).config;
const dataset = await loadDataset(dataPath);
const train = findSplit(dataset, values.train, 'the probe fit');
const evalSplit = findSplit(dataset, values.eval, 'the probe');
const files = [...new Set([...train.samples, ...evalSplit.samples].map((s) => s.path))];
const backend = await useTfjsBackend(values.backend);
const B = Number(values.bootstrap);

interface Probed {
  name: string;
  dim: number;
  size: number;
  msPerImage: number;
  lambda: number;
  pred: Float64Array;
  y: Float64Array;
}

function rows(lookup: { get(p: string): Float32Array | null; dim: number }, split: LabeledSplit): { X: FeatureMatrix; y: Float64Array } {
  const have = split.samples.filter((s) => lookup.get(s.path) !== null);
  if (have.length !== split.samples.length) throw new Error(`${split.name}: ${split.samples.length - have.length} images have no features`);
  const X = new Float32Array(have.length * lookup.dim);
  have.forEach((s, i) => X.set(lookup.get(s.path)!, i * lookup.dim));
  return { X: { data: X, n: have.length, d: lookup.dim }, y: Float64Array.from(have, (s) => s.mean) };
}

async function probe(name: string, encoder: ClipEncoder): Promise<Probed> {
  const t0 = performance.now();
  const r = await buildFeatureStore({ dir: join(out, 'features', name), encoder, files, view: encoderView(encoder.preprocessing), batchSize: 8 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.failed > 0) throw new Error(`${name}: ${r.failed} images failed to embed`);
  const tr = rows(r.store, train);
  const ev = rows(r.store, evalSplit);
  // As src/eval/probe.ts's ridgeProbe does (seed 0), keeping the predictions for the paired comparison.
  const lambda = chooseLambda(tr.X, tr.y, { seed: 0 });
  const pred = ridgePredict(ridgeFit(tr.X, tr.y, lambda), ev.X);
  await encoder.close();
  return { name, dim: encoder.dim, size: encoder.preprocessing.size, msPerImage: r.embedded > 0 ? (1000 * seconds) / r.embedded : NaN, lambda, pred, y: ev.y };
}

/** Percentile-bootstrap 95% interval of SRCC(a) − SRCC(b) over the same resampled images. */
function pairedDifference(a: Probed, b: Probed): { diff: number; low: number; high: number } {
  const n = a.y.length;
  const rng = new Rng(1);
  const d: number[] = [];
  const pa = new Float64Array(n);
  const pb = new Float64Array(n);
  const t = new Float64Array(n);
  for (let k = 0; k < B; k++) {
    for (let i = 0; i < n; i++) {
      const j = rng.int(n);
      pa[i] = a.pred[j]!;
      pb[i] = b.pred[j]!;
      t[i] = a.y[j]!;
    }
    const v = srcc(pa, t) - srcc(pb, t);
    if (Number.isFinite(v)) d.push(v);
  }
  d.sort((x, y) => x - y);
  return { diff: srcc(a.pred, a.y) - srcc(b.pred, b.y), low: d[Math.floor(0.025 * d.length)]!, high: d[Math.min(d.length - 1, Math.floor(0.975 * d.length))]! };
}

const results: Probed[] = [];
for (const name of values.models.split(',')) {
  const encoder = name === 'standin' ? await openClipEncoder('standin') : await nsfwjsTfjsEncoder(name as NsfwjsModelName);
  const label = name === 'standin' ? `standin (cskd ONNX of ${STANDIN_NETWORK}, onnxruntime)` : `${name} (tfjs ${backend})`;
  process.stderr.write(`${label}: embedding ${files.length} images…\n`);
  results.push({ ...(await probe(name, encoder)), name: label });
}

const ref = results.find((r) => r.name.startsWith('mobilenet_v2 '));
const m = describeMachine('');
const machine = `${m.cpuModel}, ${m.cores} CPUs (${m.features}), Node ${m.node}, cskd ${m.cskd.trim()}`;
const f = (x: number, k = 3) => x.toFixed(k);
const lines = [
  `Data: ${dataPath} (${dataset.name}); probe fitted on '${train.name}' (${train.samples.length} images), scored on '${evalSplit.name}' (${evalSplit.samples.length}); ${B} bootstrap resamples.`,
  `Machine: ${machine}.`,
  '',
  '| network | dim | input | ms/img | λ | probe SRCC [95%] | Δ vs mobilenet_v2 [95%, paired] |',
  '| --- | --- | --- | --- | --- | --- | --- |',
  ...results.map((r) => {
    const b = bootstrapSrcc(r.pred, r.y, { samples: B, seed: 0 });
    const d = ref && ref !== r ? pairedDifference(r, ref) : null;
    return `| ${r.name} | ${r.dim} | ${r.size} px | ${f(r.msPerImage, 0)} | ${r.lambda.toPrecision(2)} | ${f(b.srcc)} [${f(b.low, 2)}, ${f(b.high, 2)}] | ${d ? `${d.diff >= 0 ? '+' : ''}${f(d.diff)} [${f(d.low, 2)}, ${f(d.high, 2)}]` : '—'} |`;
  }),
];
process.stdout.write(`${lines.join('\n')}\n`);
