// The gallery mounted in the scoring service (`cskd serve --gallery DIR
// --images ROOT`): the page and its files answer next to the service's own
// routes, the page's POST /score goes through the service (admission, the
// same answers as Scorer.score), and every walk-out path gets 404 through the
// real service, sent as raw request paths (a URL parser would normalise '..'
// away before the server saw it). Each walk-out targets a file that exists.
import { mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildGallery } from '../../src/score/gallery/build.js';
import { Scorer, type Score } from '../../src/score/scorer.js';
import { createServer, type ScoreServer } from '../../src/score/server.js';
import { tempDir } from '../data/images.js';
import { tinyModel } from './fixtures.js';
import { type Fixture, makeFixture, plantWalkOuts } from './gallery_fixtures.js';
import { call, promSamples } from './serve_client.js';

let tmp: { dir: string; cleanup: () => void };
let fx: Fixture;
let scorer: Scorer;
let srv: ScoreServer;
let port = 0;

/** GET of a raw path, bytes kept. */
function get(path: string): Promise<{ status: number; body: Buffer; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), type: String(res.headers['content-type']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  tmp = tempDir('cskd-serve-gallery-');
  const images = join(tmp.dir, 'images');
  mkdirSync(images);
  fx = await makeFixture(images, 6);
  await buildGallery({ scores: [fx.student], images, out: join(tmp.dir, 'site') });
  plantWalkOuts(tmp.dir, images, join(tmp.dir, 'site'));
  scorer = await Scorer.load(await tinyModel(tmp.dir), { threads: 1 });
  srv = createServer(scorer, { gallery: { dir: join(tmp.dir, 'site'), imagesRoot: images } });
  port = (await srv.listen(0, '127.0.0.1')).port;
}, 60_000);

afterAll(async () => {
  await srv?.close();
  await scorer?.release();
  tmp.cleanup();
});

describe('cskd serve --gallery', () => {
  it('serves the page live next to the service routes; the page’s POST /score is the service’s', async () => {
    const index = await get('/');
    expect(index.status).toBe(200);
    expect(index.type).toMatch(/^text\/html/);
    expect(index.body.toString()).toBe(readFileSync(join(tmp.dir, 'site', 'index.html'), 'utf8'));
    expect((await get('/data/live.js')).body.toString()).toBe('CSKD_GALLERY.live = true;\n');
    const original = await get('/images/img/photo-001.jpg');
    expect(original.status).toBe(200);
    expect(original.body.equals(readFileSync(join(tmp.dir, 'images', 'img', 'photo-001.jpg')))).toBe(true);

    expect((await call(port, 'GET', '/health')).json()).toEqual({ status: 'ok' });
    expect((await call(port, 'GET', '/ready')).status).toBe(200);
    const file = join(tmp.dir, 'images', 'img', 'photo-002.jpg');
    // What the page's XMLHttpRequest sends: the dropped file's bytes, POST to 'score' relative to '/'.
    const r = await call(port, 'POST', '/score', readFileSync(file), undefined, { 'content-type': 'image/jpeg' });
    expect(r.status).toBe(200);
    const want = await scorer.score(file);
    expect(r.json<Score>()).toEqual({ mean: want.mean, std: want.std, distribution: want.distribution });
    const bad = await call(port, 'POST', '/score', Buffer.from('not an image'));
    expect(bad.status).toBe(422);
    expect(bad.json<{ error: { kind: string } }>().error.kind).toBe('not-an-image');
    // The gallery's three files so far are counted under their own route label
    // (at each response's 'finish', which a streamed file may reach after the
    // client has read it: hence the poll).
    const galleryCount = async () => promSamples((await call(port, 'GET', '/metrics')).body).get('cskd_http_request_duration_seconds_count{route="gallery",status="200"}');
    await expect.poll(galleryCount, { timeout: 5000, interval: 50 }).toBe(3);
  });

  it.each([
    '/../secret.js',
    '/assets/../../secret.js',
    '/images/../secret.jpg',
    '/images/img/../../secret.jpg',
    '/images/%2e%2e/secret.jpg',
    '/images/img%2f..%2f..%2fsecret.jpg',
    '/thumbs/..%2F..%2Fsecret.js',
    '/images/img/link-out.jpg',
    '/assets/link-out.js',
    '/..%2fsecret.js',
  ])('404 through the service for %s', async (path) => {
    const r = await get(path);
    expect(r.status).toBe(404);
    expect(r.body.toString()).not.toContain('secret');
  });
});
