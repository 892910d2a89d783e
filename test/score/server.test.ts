// The HTTP service: scores equal to the Scorer's (in this thread and through
// the model processes), liveness and readiness, 404/405/400/413/422/503 paths,
// truthful metrics, a model process that dies, graceful shutdown (in process
// and by SIGTERM to `cskd serve`).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { getPriority } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TRUNCATED_DETAIL } from '../../src/score/preprocess.js';
import { PooledScorer } from '../../src/score/pooled_scorer.js';
import { Scorer, type Score } from '../../src/score/scorer.js';
import { createServer, type ImageScorer, type ScoreServer } from '../../src/score/server.js';
import { tempDir } from '../data/images.js';
import { threadNices } from '../helpers/threads.js';
import { tinyModel, writeImageSet, type ImageSet } from './fixtures.js';
import { call, gatedScorer, promSamples, until } from './serve_client.js';

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

async function withServer<T>(s: ImageScorer, options: Parameters<typeof createServer>[1], fn: (port: number, srv: ScoreServer) => Promise<T>): Promise<T> {
  const srv = createServer(s, options);
  const { port } = await srv.listen(0, '127.0.0.1');
  try {
    return await fn(port, srv);
  } finally {
    await srv.close();
  }
}

type ErrorBody = { error: { kind: string; message: string } };

describe('cskd serve (in process)', () => {
  it('health, ready, POST /score equal to Scorer.score, 422 naming the kind, the batch endpoint', async () => {
    await withServer(scorer, {}, async (port) => {
      const h = await call(port, 'GET', '/health');
      expect(h.status).toBe(200);
      expect(h.json()).toEqual({ status: 'ok' }); // no model path, nothing but liveness
      expect((await call(port, 'GET', '/ready')).json()).toEqual({ ready: true, queue: { depth: 0, capacity: 64 } });

      const p = images.good[0]!;
      const r = await call(port, 'POST', '/score', readFileSync(p), undefined, { 'content-type': 'image/jpeg' });
      expect(r.status).toBe(200);
      const direct = await scorer.score(p);
      expect(r.json<Score>()).toEqual({ mean: direct.mean, std: direct.std, distribution: direct.distribution });

      for (const [bad, kind] of images.bad) {
        const e = await call(port, 'POST', '/score', readFileSync(bad));
        expect(e.status, bad).toBe(422);
        expect(e.json<ErrorBody>().error.kind).toBe(kind);
      }

      const truncated = [...images.bad].find(([, k]) => k === 'truncated')![0];
      const batch = [images.good[1]!, truncated, images.good[2]!].map((f) => readFileSync(f).toString('base64'));
      const b = await call(port, 'POST', '/score/batch', JSON.stringify({ images: batch }), undefined, { 'content-type': 'application/json' });
      expect(b.status).toBe(200);
      const results = b.json<{ results: (Score | ErrorBody)[] }>().results;
      expect(results).toHaveLength(3);
      expect((results[0] as Score).mean).toBeCloseTo((await scorer.score(images.good[1]!)).mean, 10);
      expect((results[2] as Score).distribution).toHaveLength(10);
      // The same truncated image reads the same everywhere: the batch, POST /score, and scoring the file (cskd score).
      const single = (await call(port, 'POST', '/score', readFileSync(truncated))).json<ErrorBody>().error.message;
      const fromFile = await scorer.score(truncated).then(
        () => '',
        (e: Error) => e.message,
      );
      expect((results[1] as ErrorBody).error.message).toBe(`images[1]: truncated: ${TRUNCATED_DETAIL}`);
      expect(single).toBe(`request body: truncated: ${TRUNCATED_DETAIL}`);
      expect(fromFile).toBe(`${truncated}: truncated: ${TRUNCATED_DETAIL}`);
    });
  });

  it('400s name what is wrong with a batch; 404 for an unknown path; 405 with Allow for a wrong method', async () => {
    await withServer(scorer, { maxBatchItems: 2 }, async (port) => {
      const bad = async (body: string): Promise<string> => {
        const r = await call(port, 'POST', '/score/batch', body);
        expect(r.status, body).toBe(400);
        return r.json<ErrorBody>().error.message;
      };
      expect(await bad('{"images": []}')).toMatch(/"images" is empty/);
      expect(await bad('not json')).toMatch(/body is not JSON/);
      expect(await bad('{"pictures": ["a"]}')).toMatch(/no "images" array/);
      expect(await bad('{"images": ["aGk=", 7]}')).toBe('images[1] is a number; each item must be a base64 string of an image file');
      expect(await bad('{"images": [{"b64": "x"}]}')).toMatch(/^images\[0\] is a object/);
      expect(await bad('{"images": ["a", "b", "c"]}')).toBe('3 images, the limit is 2 per request');

      const nope = await call(port, 'GET', '/nope');
      expect(nope.status).toBe(404);
      for (const [method, path, allow] of [
        ['GET', '/score', 'POST'],
        ['PUT', '/score/batch', 'POST'],
        ['POST', '/health', 'GET, HEAD'],
        ['DELETE', '/ready', 'GET, HEAD'],
        ['POST', '/metrics', 'GET, HEAD'],
      ] as const) {
        const r = await call(port, method, path);
        expect(r.status, `${method} ${path}`).toBe(405);
        expect(r.headers['allow']).toBe(allow);
        expect(r.json<ErrorBody>().error.kind).toBe('method-not-allowed');
      }
      expect((await call(port, 'HEAD', '/health')).status).toBe(200);
    });
  });

  it('413 for an oversized body, by Content-Length and when streamed without one', async () => {
    await withServer(scorer, { maxBodyBytes: 4096, maxBatchBodyBytes: 8192 }, async (port, srv) => {
      const big = Buffer.alloc(20_000, 1);
      const r = await call(port, 'POST', '/score', big);
      expect(r.status).toBe(413);
      expect(r.json<ErrorBody>().error.kind).toBe('body-too-large');
      const chunked = await call(port, 'POST', '/score', big, undefined, { 'transfer-encoding': 'chunked' });
      expect(chunked.status).toBe(413);
      expect((await call(port, 'POST', '/score/batch', JSON.stringify({ images: [big.toString('base64')] }))).status).toBe(413);
      expect((await call(port, 'POST', '/score', readFileSync(images.good[0]!))).status).toBe(200);
      expect(srv.queue().depth).toBe(0);
    });
  });

  it('503 queue-full beyond maxQueue (Retry-After), /ready 503 while full, both recover', async () => {
    const g = gatedScorer(scorer.preprocessing);
    await withServer(g.scorer, { maxQueue: 2 }, async (port, srv) => {
      const body = readFileSync(images.good[0]!);
      const held = [call(port, 'POST', '/score', body), call(port, 'POST', '/score', body)];
      await until(() => g.started() === 2);
      const rejected = await call(port, 'POST', '/score', body);
      expect(rejected.status).toBe(503);
      expect(rejected.headers['retry-after']).toBe('1');
      expect(rejected.json<ErrorBody>().error.kind).toBe('queue-full');
      expect((await call(port, 'POST', '/score/batch', JSON.stringify({ images: ['a', 'b', 'c'] }))).status).toBe(503);
      const notReady = await call(port, 'GET', '/ready');
      expect(notReady.status).toBe(503);
      expect(notReady.json()).toMatchObject({ ready: false, reason: 'queue-full' });
      expect((await call(port, 'GET', '/health')).status).toBe(200);
      expect(srv.queue().depth).toBe(2);
      g.release();
      for (const r of await Promise.all(held)) expect(r.status).toBe(200);
      expect(srv.metrics().rejected).toEqual({ 'queue-full': 2 });
      expect(srv.queue()).toEqual({ depth: 0, capacity: 2, releases: 2 });
      expect((await call(port, 'GET', '/ready')).status).toBe(200);
    });
  });

  it('503 timeout while the model works; that slot is kept until the work ends, then given back once', async () => {
    const g = gatedScorer(scorer.preprocessing);
    await withServer(g.scorer, { requestTimeoutMs: 150, maxQueue: 1 }, async (port, srv) => {
      const r = await call(port, 'POST', '/score', readFileSync(images.good[0]!));
      expect(r.status).toBe(503);
      expect(r.json<ErrorBody>().error.kind).toBe('timeout');
      expect(srv.metrics().timeouts).toBe(1);
      expect(srv.queue().depth).toBe(1); // the image is still with the model
      g.release();
      await until(() => srv.queue().depth === 0);
      expect(srv.queue().releases).toBe(1);
    });
  });

  it('graceful shutdown: close() refuses new work and finishes accepted requests', async () => {
    const g = gatedScorer(scorer.preprocessing);
    const srv = createServer(g.scorer, {});
    const { port } = await srv.listen(0, '127.0.0.1');
    const body = readFileSync(images.good[0]!);
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    expect((await call(port, 'GET', '/health', undefined, agent)).status).toBe(200);
    const inFlight = call(port, 'POST', '/score', body);
    await until(() => g.started() === 1);
    let closed = false;
    const closing = srv.close().then(() => (closed = true));
    await expect(call(port, 'GET', '/health')).rejects.toThrow(/ECONNREFUSED/);
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false);
    g.release();
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(r.headers['connection']).toBe('close');
    await closing;
    expect(closed).toBe(true);
    expect(srv.queue().depth).toBe(0);
    agent.destroy();
  });

  it('GET /metrics: Prometheus histograms whose latency runs from arrival to last byte, queue wait included', async () => {
    const g = gatedScorer(scorer.preprocessing);
    await withServer(g.scorer, { maxQueue: 8 }, async (port) => {
      const body = readFileSync(images.good[0]!);
      const t0 = performance.now();
      const held = Array.from({ length: 3 }, () => call(port, 'POST', '/score', body));
      await until(() => g.started() === 3);
      await new Promise((r) => setTimeout(r, 200));
      g.release();
      for (const r of await Promise.all(held)) expect(r.status).toBe(200);
      const clientSeconds = (performance.now() - t0) / 1e3;
      expect((await call(port, 'POST', '/score', Buffer.from('nope'))).status).toBe(422);

      const prom = await call(port, 'GET', '/metrics');
      expect(prom.headers['content-type']).toMatch(/^text\/plain/);
      const s = promSamples(prom.body);
      const ok = 'route="/score",status="200"';
      expect(s.get(`cskd_http_request_duration_seconds_count{${ok}}`)).toBe(3);
      // Every request was held ≥ 200 ms before the model answered, and none longer than the client waited.
      const sum = s.get(`cskd_http_request_duration_seconds_sum{${ok}}`)!;
      expect(sum).toBeGreaterThanOrEqual(3 * 0.2);
      expect(sum).toBeLessThanOrEqual(3 * clientSeconds);
      expect(s.get(`cskd_http_request_duration_seconds_bucket{le="0.1",${ok}}`)).toBe(0);
      expect(s.get(`cskd_http_request_duration_seconds_bucket{le="+Inf",${ok}}`)).toBe(3);
      expect(s.get('cskd_http_request_duration_seconds_count{route="/score",status="422"}')).toBe(1);
      expect(s.get('cskd_images_scored_total')).toBe(3);
      expect(s.get('cskd_image_errors_total{kind="not-an-image"}')).toBe(1);
      expect(s.get('cskd_http_responses_total{status="200"}')).toBe(3);
      expect(s.get('cskd_queue_depth')).toBe(0);
      expect(s.has('cskd_queue_wait_seconds_count')).toBe(true);

      const json = (await call(port, 'GET', '/metrics?format=json')).json<{ latencyMs: { count: number; p50: number }; requests: Record<string, number> }>();
      expect(json.latencyMs.count).toBe(3);
      expect(json.latencyMs.p50).toBeGreaterThanOrEqual(200);
      expect(json.requests['/score']).toBe(4);
    });
  });
});

describe('cskd serve with model processes (PooledScorer)', () => {
  it('/ready is 503 loading until the pool is warm; scores equal Scorer.score; a killed model process is replaced', async () => {
    const pooled = await PooledScorer.start(model, 2, { processes: 2, threads: 1, maxBatch: 4, restartDelayMs: 50 });
    const srv = createServer(pooled, {});
    const { port } = await srv.listen(0, '127.0.0.1');
    try {
      const early = await call(port, 'GET', '/ready');
      expect(early.status).toBe(503);
      expect(early.json()).toMatchObject({ ready: false, reason: 'loading' });
      expect((await call(port, 'POST', '/score', readFileSync(images.good[0]!))).json<ErrorBody>().error.kind).toBe('not-ready');
      await pooled.whenReady;
      expect((await call(port, 'GET', '/ready')).status).toBe(200);

      const replies = await Promise.all(images.good.map((p) => call(port, 'POST', '/score', readFileSync(p))));
      for (const [i, p] of images.good.entries()) {
        const want = await scorer.score(p);
        expect(replies[i]!.status, p).toBe(200);
        const got = replies[i]!.json<Score>();
        expect(got.mean).toBeCloseTo(want.mean, 5);
        got.distribution.forEach((v, k) => expect(v).toBeCloseTo(want.distribution[k]!, 6));
      }
      expect(pooled.stats.images).toBe(images.good.length);
      const prom = promSamples((await call(port, 'GET', '/metrics')).body);
      expect(prom.get('cskd_queue_wait_seconds_count')).toBe(images.good.length);

      // Bad images are decoded in the model processes and named there with the words the in-thread path uses.
      const truncated = [...images.bad].find(([, k]) => k === 'truncated')![0];
      const single = await call(port, 'POST', '/score', readFileSync(truncated));
      expect(single.status).toBe(422);
      expect(single.json<ErrorBody>().error).toEqual({ kind: 'truncated', message: `request body: truncated: ${TRUNCATED_DETAIL}` });
      const batch = await call(port, 'POST', '/score/batch', JSON.stringify({ images: [readFileSync(images.good[0]!).toString('base64'), 'bm90IGFuIGltYWdl'] }));
      const [good, bad] = batch.json<{ results: [Score, ErrorBody] }>().results;
      expect(good.mean).toBeCloseTo((await scorer.score(images.good[0]!)).mean, 5);
      expect(bad.error.kind).toBe('not-an-image');
      expect(bad.error.message).toMatch(/^images\[1\]: not-an-image: /);

      // Decoding and model calls run below the service's priority: every thread of every model process, 10 nice levels down.
      for (const pid of pooled.pool.pids()) {
        for (const [tid, nice] of Object.entries(threadNices(pid))) expect(nice, `model process ${pid}, thread ${tid}`).toBe(Math.min(19, getPriority() + 10));
      }

      // Kill one model process: the pool replaces it and keeps scoring.
      const before = pooled.pool.restarts;
      process.kill(pooled.pool.pids()[0]!, 'SIGKILL');
      await until(() => pooled.pool.restarts === before + 1, 'a restart');
      await until(() => pooled.pool.pids().length === 2 && pooled.pool.idle === 2, 'two warm processes again');
      expect((await call(port, 'POST', '/score', readFileSync(images.good[1]!))).status).toBe(200);
      expect(promSamples((await call(port, 'GET', '/metrics')).body).get('cskd_model_restarts_total')).toBe(1);
    } finally {
      await srv.close();
      await pooled.release();
    }
  });

  it('a stuck model call (its process stopped) times out the request, then the process is killed and replaced and the slot comes back', async () => {
    const pooled = await PooledScorer.start(model, 1, { processes: 1, threads: 1, maxBatch: 4, restartDelayMs: 50, callTimeoutMs: 800 });
    const srv = createServer(pooled, { maxQueue: 2, requestTimeoutMs: 400 });
    const { port } = await srv.listen(0, '127.0.0.1');
    try {
      await pooled.whenReady;
      const pid = pooled.pool.pids()[0]!;
      process.kill(pid, 'SIGSTOP'); // a hung session: alive, never answering
      const t0 = performance.now();
      const stuck = await call(port, 'POST', '/score', readFileSync(images.good[0]!));
      expect(stuck.status).toBe(503);
      expect(stuck.json<ErrorBody>().error.kind).toBe('timeout');
      expect(srv.queue().depth).toBe(1); // the model still holds the image
      await until(() => pooled.pool.restarts === 1, 'the stuck process replaced');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(750);
      expect(pooled.pool.pids()).not.toContain(pid);
      await until(() => srv.queue().depth === 0, 'the slot back');
      await until(() => pooled.pool.idle === 1, 'a warm process again');
      expect((await call(port, 'POST', '/score', readFileSync(images.good[1]!))).status).toBe(200);
      expect(srv.queue()).toEqual({ depth: 0, capacity: 2, releases: 2 });
    } finally {
      await srv.close();
      await pooled.release();
    }
  });

  it('a pool released before it is ready rejects whenReady; a missing model is named', async () => {
    const pooled = await PooledScorer.start(model, 1, { processes: 1, threads: 1 });
    await pooled.release();
    await expect(pooled.whenReady).rejects.toThrow(/closed before it was ready/);
    await expect(PooledScorer.start(join(dir, 'missing.onnx'), 1)).rejects.toThrow(/cannot read .*missing\.onnx \(ENOENT\)/);
  });
});

describe('cskd serve (process)', () => {
  it('listens, says ready, scores, and on SIGTERM finishes and exits 0', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', "const { main } = await import('./src/cli/main.ts'); process.exitCode = await main(process.argv.slice(1));", 'serve', '--model', model, '--port', '0', '--workers', '1', '--threads', '1'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until(() => out.includes('cskd serve: ready') || child.exitCode !== null, 'ready');
      const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
      expect(port, err).toBeGreaterThan(0);
      expect(out).toContain('ready (1 model processes × 1 threads)');
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
