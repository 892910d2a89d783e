// The HTTP service: health, scores equal to the Scorer's, batch endpoint,
// 413/422/503 paths, timeouts, metrics, graceful shutdown (in process and by
// SIGTERM to `cskd serve`), and a bounded loopback load test.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Scorer, type Score } from '../../src/score/scorer.js';
import { createServer, type ImageScorer, type ScoreServer } from '../../src/score/server.js';
import { tempDir } from '../data/images.js';
import { tinyModel, writeImageSet, type ImageSet } from './fixtures.js';

const { dir, cleanup } = tempDir('cskd-serve-');
let model: string;
let scorer: Scorer;
let images: ImageSet;

beforeAll(async () => {
  model = await tinyModel(dir);
  scorer = await Scorer.load(model, { threads: 1, maxBatch: 8 });
  images = await writeImageSet(join(dir, 'images'));
});
afterAll(async () => {
  await scorer?.release();
  cleanup();
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: <T = Record<string, unknown>>() => T;
}

function call(port: number, method: string, path: string, body?: Buffer | string, agent?: Agent, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: agent ?? false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: <T,>() => JSON.parse(text) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function withServer<T>(s: ImageScorer, options: Parameters<typeof createServer>[1], fn: (port: number, srv: ScoreServer) => Promise<T>): Promise<T> {
  const srv = createServer(s, options);
  const { port } = await srv.listen(0, '127.0.0.1');
  try {
    return await fn(port, srv);
  } finally {
    await srv.close();
  }
}

/** A stand-in scorer whose answers wait until released, to hold requests in flight. */
function gatedScorer(): { scorer: ImageScorer; release: () => void; started: () => number } {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((r) => (open = r));
  let started = 0;
  const fake: ImageScorer = {
    score: async () => {
      started++;
      await gate;
      return { mean: 5, std: 1, distribution: [0.5, 0.5] } satisfies Score;
    },
    bins: [1, 2],
    preprocessing: scorer.preprocessing,
    modelPath: 'gated',
    stats: { batches: 0, images: 0, modelMs: 0 },
    maxBatch: 1,
  };
  return { scorer: fake, release: () => open(), started: () => started };
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

describe('cskd serve (in process)', () => {
  it('GET /health, POST /score equal to Scorer.score, 422 naming the kind, batch endpoint, 404/405', async () => {
    await withServer(scorer, {}, async (port) => {
      const h = await call(port, 'GET', '/health');
      expect(h.status).toBe(200);
      expect(h.json()).toMatchObject({ status: 'ok', model: { size: 32, bins: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }, queue: { depth: 0, capacity: 64 } });

      const p = images.good[0]!;
      const r = await call(port, 'POST', '/score', readFileSync(p), undefined, { 'content-type': 'image/jpeg' });
      expect(r.status).toBe(200);
      const direct = await scorer.score(p);
      expect(r.json<Score>()).toEqual({ mean: direct.mean, std: direct.std, distribution: direct.distribution });

      for (const [bad, kind] of images.bad) {
        const e = await call(port, 'POST', '/score', readFileSync(bad));
        expect(e.status, bad).toBe(422);
        expect(e.json<{ error: { kind: string } }>().error.kind).toBe(kind);
      }

      const batch = [images.good[1]!, images.bad.keys().next().value!, images.good[2]!].map((f) => readFileSync(f).toString('base64'));
      const b = await call(port, 'POST', '/score/batch', JSON.stringify({ images: batch }), undefined, { 'content-type': 'application/json' });
      expect(b.status).toBe(200);
      const results = b.json<{ results: (Score | { error: { kind: string } })[] }>().results;
      expect(results).toHaveLength(3);
      expect((results[0] as Score).mean).toBeCloseTo((await scorer.score(images.good[1]!)).mean, 10);
      expect((results[1] as { error: { kind: string } }).error.kind).toBe('truncated');
      expect((results[2] as Score).distribution).toHaveLength(10);

      expect((await call(port, 'POST', '/score/batch', '{"images": []}')).status).toBe(400);
      expect((await call(port, 'POST', '/score/batch', 'not json')).status).toBe(400);
      expect((await call(port, 'GET', '/score')).status).toBe(405);
      expect((await call(port, 'GET', '/nope')).status).toBe(404);
    });
  });

  it('413 for an oversized body, by Content-Length and when streamed without one', async () => {
    await withServer(scorer, { maxBodyBytes: 4096, maxBatchBodyBytes: 8192 }, async (port) => {
      const big = Buffer.alloc(20_000, 1);
      const r = await call(port, 'POST', '/score', big);
      expect(r.status).toBe(413);
      expect(r.json<{ error: { kind: string } }>().error.kind).toBe('body-too-large');
      const chunked = await call(port, 'POST', '/score', big, undefined, { 'transfer-encoding': 'chunked' });
      expect(chunked.status).toBe(413);
      expect((await call(port, 'POST', '/score/batch', JSON.stringify({ images: [big.toString('base64')] }))).status).toBe(413);
      // The server is still fine afterwards.
      expect((await call(port, 'POST', '/score', readFileSync(images.good[0]!))).status).toBe(200);
    });
  });

  it('503 queue-full beyond maxQueue (with Retry-After), and the held requests still succeed', async () => {
    const g = gatedScorer();
    await withServer(g.scorer, { maxQueue: 2 }, async (port, srv) => {
      const body = readFileSync(images.good[0]!);
      const held = [call(port, 'POST', '/score', body), call(port, 'POST', '/score', body)];
      await until(() => g.started() === 2);
      const rejected = await call(port, 'POST', '/score', body);
      expect(rejected.status).toBe(503);
      expect(rejected.headers['retry-after']).toBe('1');
      expect(rejected.json<{ error: { kind: string } }>().error.kind).toBe('queue-full');
      // A batch of 3 would not fit either.
      expect((await call(port, 'POST', '/score/batch', JSON.stringify({ images: ['a', 'b', 'c'] }))).status).toBe(503);
      expect(srv.metrics().queue).toEqual({ depth: 2, capacity: 2 });
      g.release();
      for (const r of await Promise.all(held)) expect(r.status).toBe(200);
      expect(srv.metrics().rejectedQueueFull).toBe(2);
      expect(srv.metrics().queue.depth).toBe(0);
    });
  });

  it('503 timeout when the answer takes longer than requestTimeoutMs; the slot is freed when the work ends', async () => {
    const g = gatedScorer();
    await withServer(g.scorer, { requestTimeoutMs: 150, maxQueue: 1 }, async (port, srv) => {
      const r = await call(port, 'POST', '/score', readFileSync(images.good[0]!));
      expect(r.status).toBe(503);
      expect(r.json<{ error: { kind: string } }>().error.kind).toBe('timeout');
      expect(srv.metrics().timeouts).toBe(1);
      expect(srv.metrics().queue.depth).toBe(1); // still working
      g.release();
      await until(() => srv.metrics().queue.depth === 0);
    });
  });

  it('graceful shutdown: close() refuses new work and finishes accepted requests', async () => {
    const g = gatedScorer();
    const srv = createServer(g.scorer, {});
    const { port } = await srv.listen(0, '127.0.0.1');
    const body = readFileSync(images.good[0]!);
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    // One keep-alive connection that has already served a request.
    expect((await call(port, 'GET', '/health', undefined, agent)).status).toBe(200);
    const inFlight = call(port, 'POST', '/score', body);
    await until(() => g.started() === 1);
    let closed = false;
    const closing = srv.close().then(() => (closed = true));
    // New connections are refused; the health check says so on kept-alive ones while draining.
    await expect(call(port, 'GET', '/health')).rejects.toThrow(/ECONNREFUSED/);
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false);
    g.release();
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(r.headers['connection']).toBe('close');
    await closing;
    expect(closed).toBe(true);
    agent.destroy();
  });

  it('GET /metrics: counts and latency quantiles, as JSON and as Prometheus text', async () => {
    await withServer(scorer, {}, async (port) => {
      const body = readFileSync(images.good[0]!);
      for (let i = 0; i < 5; i++) expect((await call(port, 'POST', '/score', body)).status).toBe(200);
      await call(port, 'POST', '/score', Buffer.from('nope'));
      const m = (await call(port, 'GET', '/metrics')).json<{
        requests: Record<string, number>;
        responses: Record<string, number>;
        imagesScored: number;
        imageErrors: Record<string, number>;
        latencyMs: { count: number; p50: number; p99: number };
      }>();
      expect(m.requests['POST /score']).toBe(6);
      expect(m.responses).toMatchObject({ '200': 5, '422': 1 });
      expect(m.imagesScored).toBe(5);
      expect(m.imageErrors).toEqual({ 'not-an-image': 1 });
      expect(m.latencyMs.count).toBe(5);
      expect(m.latencyMs.p50).toBeGreaterThan(0);
      expect(m.latencyMs.p99).toBeGreaterThanOrEqual(m.latencyMs.p50);
      const text = (await call(port, 'GET', '/metrics?format=prometheus')).body;
      expect(text).toContain('cskd_images_scored_total 5');
      expect(text).toMatch(/cskd_latency_ms\{quantile="0.99"\} [\d.]+/);
    });
  });

  it('loopback load test: 400 requests at concurrency 16, none failed', async () => {
    await withServer(scorer, { maxQueue: 64 }, async (port, srv) => {
      const bodies = images.good.slice(0, 6).map((p) => readFileSync(p));
      const agent = new Agent({ keepAlive: true, maxSockets: 16 });
      const total = 400;
      const latencies: number[] = [];
      let next = 0;
      const statuses: Record<number, number> = {};
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < total) {
            const i = next++;
            const s = performance.now();
            const r = await call(port, 'POST', '/score', bodies[i % bodies.length], agent);
            latencies.push(performance.now() - s);
            statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1e3;
      agent.destroy();
      expect(statuses).toEqual({ 200: total });
      latencies.sort((a, b) => a - b);
      const q = (p: number): string => latencies[Math.ceil(p * latencies.length) - 1]!.toFixed(1);
      const m = srv.metrics();
      console.info(
        `serve load test (tiny 32 px model, 1 onnxruntime thread, loopback): ${total} requests at concurrency 16 in ${seconds.toFixed(2)} s = ${(total / seconds).toFixed(0)} req/s; ` +
          `client latency p50 ${q(0.5)} ms, p99 ${q(0.99)} ms; mean model batch ${m.model.meanBatch?.toFixed(2)}`,
      );
    });
  });
});

describe('cskd serve (process)', () => {
  it('listens, scores, and on SIGTERM finishes and exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', "const { main } = await import('./src/cli/main.ts'); process.exitCode = await main(process.argv.slice(1));", 'serve', '--model', model, '--port', '0', '--threads', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until(() => /listening on http:\/\/127\.0\.0\.1:(\d+)/.test(out) || child.exitCode !== null);
      const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
      expect(port, err).toBeGreaterThan(0);
      const r = await call(port, 'POST', '/score', readFileSync(images.good[0]!));
      expect(r.status).toBe(200);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).toContain('SIGTERM, finishing accepted requests');
      expect(out).toContain('stopped after 1 images');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
