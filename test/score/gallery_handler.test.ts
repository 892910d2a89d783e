// createGalleryHandler behind a real node:http server: it serves the
// gallery's files and the images under its root, says the page is live, and
// answers 404 to every request that walks out of them — '..', encoded
// slashes, dot files, symlinks leading outside — sent as raw request paths
// (a URL parser would normalise '..' away before the server saw it).
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { type Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildGallery } from '../../src/score/gallery/build.js';
import { createGalleryHandler } from '../../src/score/gallery/handler.js';
import { tempDir } from '../data/images.js';
import { type Fixture, makeFixture, plantWalkOuts } from './gallery_fixtures.js';

let tmp: { dir: string; cleanup: () => void };
let fx: Fixture;
let server: Server;
let port = 0;
const scored: number[] = [];

function get(path: string, method = 'GET', body?: Buffer): Promise<{ status: number; body: Buffer; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), type: String(res.headers['content-type']) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  tmp = tempDir('cskd-gallery-serve-');
  const images = join(tmp.dir, 'images');
  mkdirSync(images);
  fx = await makeFixture(images, 8);
  await buildGallery({ scores: [fx.student], images, out: join(tmp.dir, 'site') });
  // Outside both roots: what a walk out would reach.
  plantWalkOuts(tmp.dir, images, join(tmp.dir, 'site'));
  symlinkSync(tmp.dir, join(images, 'img', 'dir-out'));
  // A symlink that stays inside the root is just another name for an image there.
  symlinkSync(join(images, 'img', 'photo-000.jpg'), join(images, 'img', 'link-in.jpg'));
  writeFileSync(join(images, 'img', '.hidden.jpg'), 'hidden');
  const handler = createGalleryHandler({
    galleryDir: join(tmp.dir, 'site'),
    imagesRoot: images,
    score: (body) => {
      scored.push(body.length);
      return Promise.resolve({ mean: body.length, std: 1, distribution: [0.5, 0.5] });
    },
  });
  server = createServer((req, res) => {
    void handler(req, res).then((handled) => {
      if (!handled) {
        res.writeHead(418);
        res.end('not the gallery’s');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
}, 60_000);

afterAll(async () => {
  await new Promise((r) => server.close(r));
  tmp.cleanup();
});

describe('createGalleryHandler', () => {
  it('serves the page, its data, thumbnails and the original images', async () => {
    const index = await get('/');
    expect(index.status).toBe(200);
    expect(index.type).toMatch(/^text\/html/);
    expect(index.body.toString()).toBe(readFileSync(join(tmp.dir, 'site', 'index.html'), 'utf8'));
    expect((await get('/data/live.js')).body.toString()).toBe('CSKD_GALLERY.live = true;\n');
    expect((await get('/assets/app.js')).status).toBe(200);
    const thumbs = (await import('node:fs')).readdirSync(join(tmp.dir, 'site', 'thumbs'));
    const thumb = await get(`/thumbs/${thumbs[0]}`);
    expect(thumb.status).toBe(200);
    expect(thumb.type).toBe('image/jpeg');
    const original = await get('/images/img/photo-001.jpg');
    expect(original.status).toBe(200);
    expect(original.body.equals(readFileSync(join(tmp.dir, 'images', 'img', 'photo-001.jpg')))).toBe(true);
    expect((await get('/images/img/link-in.jpg')).status).toBe(200);
    expect((await get('/images/img/photo%2D002.jpg')).status).toBe(200); // an encoded ordinary character is fine
  });

  // Each walks to a file that exists (tmp/secret.*), so a 404 means refused, not missing.
  it.each([
    '/../secret.js',
    '/assets/../../secret.js',
    '/images/../secret.jpg',
    '/images/img/../../secret.jpg',
    '/images/%2e%2e/secret.jpg',
    '/images/img/%2E%2E/%2E%2E/secret.jpg',
    '/images/img%2f..%2f..%2fsecret.jpg',
    '/images/img%2F..%2F..%2Fsecret.jpg',
    '/thumbs/..%2f..%2fsecret.js',
    '/images/..%5csecret.jpg',
    '/images/img/link-out.jpg',
    '/images/img/dir-out/secret.jpg',
    '/assets/link-out.js',
    '/images/img/.hidden.jpg',
    '/images/student.csv',
    '/images/img/photo-000.jpg%00.js',
    '/images//etc/passwd',
    '/thumbs/nope.jpg',
  ])('404 for %s', async (path) => {
    const r = await get(path);
    expect(r.status).toBe(404);
    expect(r.body.toString()).not.toContain('secret');
  });

  it('answers POST /score with its scorer and leaves other routes to the service', async () => {
    const r = await get('/score', 'POST', Buffer.alloc(1234, 7));
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({ mean: 1234, std: 1, distribution: [0.5, 0.5] });
    expect(scored).toEqual([1234]);
    expect((await get('/score/batch', 'POST', Buffer.from('{}'))).status).toBe(418);
    expect((await get('/health')).status).toBe(418);
    expect((await get('/gallery.json')).status).toBe(418);
    expect((await get('/', 'DELETE')).status).toBe(418);
  });
});
