// Every request's queue slot is given back exactly once, whatever ends it:
// a body still arriving at the timeout, a client that goes away mid-body or
// while the model works, shutdown. After each, the queue is empty and the
// number of releases equals the number of requests admitted.
import { readFileSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Scorer, type Score } from '../../src/score/scorer.js';
import { createServer } from '../../src/score/server.js';
import { tempDir } from '../data/images.js';
import { tinyModel, writeImageSet, type ImageSet } from './fixtures.js';
import { call, gatedScorer, promSamples, slowUpload, until } from './serve_client.js';

const { dir, cleanup } = tempDir('cskd-serve-slots-');
let scorer: Scorer;
let images: ImageSet;

beforeAll(async () => {
  scorer = await Scorer.load(await tinyModel(dir), { threads: 1, maxBatch: 4 });
  images = await writeImageSet(join(dir, 'images'));
});
afterAll(async () => {
  await scorer?.release();
  cleanup();
});

describe('queue slots', () => {
  it('slow uploads that time out give their slots back: the queue is empty and /score works again', async () => {
    // The reproduction, scaled down: --max-queue 4, a short timeout, 4 clients sending a byte at a time.
    const srv = createServer(scorer, { maxQueue: 4, requestTimeoutMs: 300 });
    const { port } = await srv.listen(0, '127.0.0.1');
    try {
      for (let round = 0; round < 2; round++) {
        const slow = Array.from({ length: 4 }, () => slowUpload(port, '/score', 10_000, 50));
        await until(() => srv.queue().depth === 4, 'four slots held');
        // Full: a fifth is refused, and /ready says so.
        expect((await call(port, 'POST', '/score', readFileSync(images.good[0]!))).status).toBe(503);
        expect((await call(port, 'GET', '/ready')).status).toBe(503);
        expect(await Promise.all(slow.map((s) => s.status))).toEqual([503, 503, 503, 503]);
        slow.forEach((s) => s.stop());
        expect(srv.queue().depth).toBe(0);
        expect((await call(port, 'POST', '/score', readFileSync(images.good[0]!))).status).toBe(200);
        expect((await call(port, 'GET', '/ready')).status).toBe(200);
      }
      // 2 rounds × (4 slow + 1 good): each admitted request released once, the refused ones never took a slot.
      expect(srv.queue()).toEqual({ depth: 0, capacity: 4, releases: 10 });
      expect(srv.metrics().timeouts).toBe(8);
    } finally {
      await srv.close();
    }
  });

  it('a client that leaves mid-body frees its slot at once, and is counted as an abort, not a 500', async () => {
    const srv = createServer(scorer, { maxQueue: 2 });
    const { port } = await srv.listen(0, '127.0.0.1');
    try {
      const up = slowUpload(port, '/score/batch', 10_000, 20);
      await until(() => srv.queue().depth === 1, 'slot held');
      up.stop();
      await until(() => srv.queue().depth === 0, 'slot freed');
      const m = promSamples((await call(port, 'GET', '/metrics')).body);
      expect(m.get('cskd_http_aborted_total{route="/score/batch"}')).toBe(1);
      expect(m.has('cskd_http_responses_total{status="500"}')).toBe(false);
      expect(srv.queue().releases).toBe(1);
    } finally {
      await srv.close();
    }
  });

  it('a client that leaves while the model works: the slot is kept until the model is done, then given back once', async () => {
    const g = gatedScorer(scorer.preprocessing);
    const srv = createServer(g.scorer, { maxQueue: 2 });
    const { port } = await srv.listen(0, '127.0.0.1');
    try {
      const body = readFileSync(images.good[0]!);
      const up = slowUpload(port, '/score', body.length, 1000);
      up.socket.write(body.subarray(0, body.length - 1)); // the drip sends the last byte
      await until(() => g.started() === 1, 'scoring');
      up.stop();
      await until(() => srv.metrics().aborted === 1, 'abort seen');
      expect(srv.queue().depth).toBe(1);
      g.release();
      await until(() => srv.queue().depth === 0, 'slot freed');
      expect(srv.queue().releases).toBe(1);
    } finally {
      await srv.close();
    }
  });

  it('Expect: 100-continue: refused before the body is sent when the queue is full; told to continue and scored once admitted', async () => {
    const srv = createServer(scorer, { maxQueue: 1 });
    const { port } = await srv.listen(0, '127.0.0.1');
    const body = readFileSync(images.good[0]!);
    // Headers only, then the body when the server says 100 Continue; everything it answers, as text.
    const expecting = (): { text: () => string; sentBody: () => boolean; socket: Socket } => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      let sentBody = false;
      socket.on('data', (c: Buffer) => {
        text += c.toString('latin1');
        if (text.startsWith('HTTP/1.1 100 Continue\r\n\r\n') && !sentBody) {
          sentBody = true;
          socket.write(body);
        }
      });
      socket.write(`POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
      socket.on('error', () => undefined);
      return { text: () => text, sentBody: () => sentBody, socket };
    };
    const holder = slowUpload(port, '/score', 10_000, 50);
    try {
      await until(() => srv.queue().depth === 1, 'the one slot held');
      const refused = expecting();
      await until(() => refused.text().includes('\r\n\r\n'), 'an answer');
      expect(refused.text()).toMatch(/^HTTP\/1\.1 503 /);
      expect(refused.text()).toContain('"kind":"queue-full"');
      holder.stop();
      expect(refused.sentBody()).toBe(false);
      refused.socket.destroy();
      await until(() => srv.queue().depth === 0, 'slot freed');

      const admitted = expecting();
      await until(() => /\r\n\r\n\{.*\}$/s.test(admitted.text().slice(25)), 'the score');
      const [cont, rest] = [admitted.text().slice(0, 25), admitted.text().slice(25)];
      expect(cont).toBe('HTTP/1.1 100 Continue\r\n\r\n');
      expect(rest).toMatch(/^HTTP\/1\.1 200 /);
      const want = await scorer.score(images.good[0]!);
      expect(JSON.parse(rest.slice(rest.indexOf('\r\n\r\n') + 4)) as Score).toEqual({ mean: want.mean, std: want.std, distribution: want.distribution });
      admitted.socket.destroy();
      expect(srv.queue()).toEqual({ depth: 0, capacity: 1, releases: 2 });
    } finally {
      holder.stop();
      await srv.close();
    }
  });

  it('shutdown with uploads still arriving: close() ends after its timeout, every slot given back', async () => {
    const srv = createServer(scorer, { maxQueue: 4, shutdownTimeoutMs: 200, requestTimeoutMs: 60_000 });
    const { port } = await srv.listen(0, '127.0.0.1');
    const slow = Array.from({ length: 3 }, () => slowUpload(port, '/score', 10_000, 50));
    await until(() => srv.queue().depth === 3, 'three slots held');
    await srv.close();
    expect(srv.queue()).toEqual({ depth: 0, capacity: 4, releases: 3 });
    slow.forEach((s) => s.stop());
  });
});
