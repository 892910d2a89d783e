// The gallery served live (`cskd serve --gallery`): a request handler the
// scoring service mounts in front of its own routes. It serves the built
// gallery's files, the original images under one root (for the larger view),
// and data/live.js saying the page is live, so the page offers drag-and-drop
// scoring through the service's POST /score.
//
// Path safety: only GET/HEAD of a path whose decoded segments are plain names
// (no '.', '..', empty segments, backslashes, NULs, or percent-encoded '/' or
// '\' in the raw URL), no dot files, and whose real path (symlinks resolved)
// stays inside the root it was asked under. Anything else is 404, the same as
// a missing file, so a probe learns nothing about what lies outside. A safe
// path outside the gallery's own folders is left to the service (false).
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';

import { IMAGE_EXTENSIONS } from '../../data/pool.js';

export interface GalleryHandlerOptions {
  /** A folder `cskd gallery` built. */
  galleryDir: string;
  /** The images root the gallery was built with (`--images`); originals are served from under it. Null: none. */
  imagesRoot?: string | null;
  /** Scores an uploaded image; when given, POST /score is answered here (else left to the service). */
  score?: (body: Buffer) => Promise<{ mean: number; std: number; distribution: number[] }>;
  /** URL prefix the gallery lives under (default '/'; e.g. '/gallery/'). */
  prefix?: string;
  /** Largest POST /score body this handler reads (bytes, default 20 MiB). */
  maxBodyBytes?: number;
}

export type GalleryHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.avif': 'image/avif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
};

/** First path segments the gallery answers for; gallery.json is deliberately not one of them. */
const OWNED = new Set(['index.html', 'assets', 'data', 'thumbs', 'images']);

function notFound(res: ServerResponse): true {
  res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify({ error: { kind: 'not-found', message: 'no such file' } }));
  return true;
}

/** The decoded path segments of a raw URL path, or null when any is unsafe. */
export function safeSegments(rawPath: string): string[] | null {
  // Encoded separators would survive a decode-then-split check as one "name".
  if (/%(2f|5c|00)/i.test(rawPath)) return null;
  const parts = rawPath.split('/').slice(1);
  const out: string[] = [];
  for (const p of parts) {
    let d: string;
    try {
      d = decodeURIComponent(p);
    } catch {
      return null;
    }
    if (d === '' || d === '.' || d === '..' || d.startsWith('.') || d.includes('\\') || d.includes('\0') || d.includes('/')) return null;
    out.push(d);
  }
  return out;
}

/** The real path of root/segments when it is a file inside root's real path; else null. */
async function inside(root: string, segments: string[]): Promise<string | null> {
  try {
    const realRoot = await realpath(root);
    const target = await realpath(join(realRoot, ...segments));
    if (!target.startsWith(realRoot + sep)) return null;
    return (await stat(target)).isFile() ? target : null;
  } catch {
    return null;
  }
}

function sendFile(req: IncomingMessage, res: ServerResponse, file: string, size: number, type: string): Promise<boolean> {
  res.writeHead(200, { 'content-type': type, 'content-length': size, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
  if (req.method === 'HEAD') {
    res.end();
    return Promise.resolve(true);
  }
  return new Promise((done) => {
    const s = createReadStream(file);
    s.on('error', () => {
      res.destroy();
      done(true);
    });
    s.on('end', () => done(true));
    s.pipe(res);
  });
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        done(null);
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => done(Buffer.concat(chunks)));
    req.on('error', fail);
  });
}

export function createGalleryHandler(options: GalleryHandlerOptions): GalleryHandler {
  const galleryDir = resolve(options.galleryDir);
  const imagesRoot = options.imagesRoot ? resolve(options.imagesRoot) : null;
  const prefix = (options.prefix ?? '/').replace(/\/?$/, '/');
  const maxBody = options.maxBodyBytes ?? 20 << 20;
  return async (req, res) => {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const rawPath = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
    if (rawPath !== prefix.slice(0, -1) && !rawPath.startsWith(prefix)) return false;
    const rest = `/${rawPath.slice(prefix.length)}`;

    if (rest === '/score' && options.score) {
      if (req.method !== 'POST') return false;
      const body = await readBody(req, maxBody);
      if (body === null) {
        res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
        res.end(JSON.stringify({ error: { kind: 'body-too-large', message: `body over ${maxBody} bytes` } }));
        return true;
      }
      try {
        const s = await options.score(body);
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ mean: s.mean, std: s.std, distribution: s.distribution }));
      } catch (e) {
        res.writeHead(422, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ error: { kind: 'unreadable', message: (e as Error).message } }));
      }
      return true;
    }
    if (rest === '/score' || rest.startsWith('/score/')) return false; // the service's own endpoints
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;

    if (rest === '/' || rawPath === prefix.slice(0, -1)) return serve(req, res, galleryDir, ['index.html']);
    if (rest === '/data/live.js') {
      const text = 'CSKD_GALLERY.live = true;\n';
      res.writeHead(200, { 'content-type': TYPES['.js']!, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : text);
      return true;
    }
    const segments = safeSegments(rest);
    if (segments === null || segments.length === 0) return notFound(res);
    // Other paths (/health, /metrics, …) belong to the service this is mounted in.
    if (!OWNED.has(segments[0]!)) return false;
    if (segments[0] === 'images') {
      const ext = extname(segments[segments.length - 1]!).toLowerCase();
      if (!imagesRoot || segments.length < 2 || !IMAGE_EXTENSIONS.includes(ext)) return notFound(res);
      return serve(req, res, imagesRoot, segments.slice(1));
    }
    return serve(req, res, galleryDir, segments);
  };
}

async function serve(req: IncomingMessage, res: ServerResponse, root: string, segments: string[]): Promise<boolean> {
  const file = await inside(root, segments);
  if (!file) return notFound(res);
  const type = TYPES[extname(file).toLowerCase()];
  if (!type) return notFound(res);
  const st = await stat(file);
  return sendFile(req, res, file, st.size, type);
}
