// The HTTP scoring service (node:http, no framework).
//
//   POST /score           body: the bytes of one image file → 200 { mean, std, distribution }
//   POST /score/batch     body: JSON { "images": ["<base64>", …] } → 200 { "results": [ {mean, std, distribution} | {error} … ] }
//   GET  /health          liveness: 200 { status: "ok" } while the process runs (draining: true during shutdown)
//   GET  /ready           readiness: 200 { ready: true } or 503 { ready: false, reason: loading | model-unavailable | queue-full | shutting-down }
//   GET  /metrics         Prometheus text (real histograms); JSON with ?format=json or Accept: application/json
//   GET  /…               the gallery's files, when mounted (ServeOptions.gallery; `cskd serve --gallery`)
//
// Errors are JSON { error: { kind, message } }:
//   400 bad-request     malformed batch JSON, empty batch, an item not a string, too many items
//   404 not-found       unknown path
//   405 method-not-allowed  a known path with another method (with Allow)
//   413 body-too-large  Content-Length (or the bytes received) over the limit
//   422 <image kind>    not-an-image, truncated, zero-byte, too-large (pixels), unreadable
//   503 queue-full      more images admitted than maxQueue (Retry-After: 1)
//   503 not-ready       the model is not loaded (yet, or no model process is alive) (Retry-After: 1)
//   503 timeout         not answered within requestTimeoutMs
//   503 shutting-down   after close() began
//
// Admission happens before the body is read: a request takes a Slot of the
// queue (request_slot.ts), one image or the batch's item count once parsed,
// and gives it back exactly once when it ends. A client that sends Expect:
// 100-continue is told to continue only once admitted, so a refused one
// never uploads its body. A body still arriving at the
// timeout, or whose client goes away, is abandoned at once (its slot freed);
// an image already handed to the model keeps its slot until the model is done
// with it, so the queue bounds decoded images held and work the model owes.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { ImageFileError } from '../data/errors.js';
import { createGalleryHandler, type GalleryHandler } from './gallery/handler.js';
import { AdmissionQueue, type Slot } from './request_slot.js';
import type { Score, Scorer } from './scorer.js';
import { ServiceMetrics, type Route, type ServerMetrics } from './service_metrics.js';

export type { ServerMetrics } from './service_metrics.js';

/** What the server needs from a scorer: a Scorer (model in this thread), a PooledScorer (model processes), or a stand-in in tests. */
export type ImageScorer = Pick<Scorer, 'score' | 'bins' | 'preprocessing' | 'stats' | 'maxBatch'> & {
  /** Whether it can score now, or why not (default: always ready). */
  readiness?: () => 'ready' | 'loading' | 'model-unavailable';
  /** Set by the server to observe each image's queue wait (seconds). */
  onQueueWait?: ((seconds: number) => void) | null;
  /** The model processes, when scoring runs in a pool. */
  pool?: { processes: number; threads: number; restarts: number };
};

export interface ServeOptions {
  /** Largest body of POST /score (bytes, default 20 MiB). */
  maxBodyBytes?: number;
  /** Largest body of POST /score/batch (bytes, default 64 MiB). */
  maxBatchBodyBytes?: number;
  /** Most images in one batch request (default 64). */
  maxBatchItems?: number;
  /** Images admitted and not yet finished; beyond it, 503 (default 64). */
  maxQueue?: number;
  /** Time to receive and answer a request (ms, default 30 000). */
  requestTimeoutMs?: number;
  /** How long close() waits for accepted requests before dropping connections (ms, default 30 000). */
  shutdownTimeoutMs?: number;
  /** Latency samples kept for the JSON quantiles (default 4096, the most recent). */
  latencyWindow?: number;
  /** Serve a gallery built by `cskd gallery` at / (its page posts dropped images to POST /score). */
  gallery?: { dir: string; imagesRoot?: string | null };
}

export interface ScoreServer {
  readonly server: Server;
  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(port?: number, host?: string): Promise<AddressInfo>;
  /** Stops accepting, finishes accepted requests, then closes every connection. */
  close(): Promise<void>;
  metrics(): ServerMetrics;
  /** Images admitted and not finished, and slots given back so far. */
  queue(): { depth: number; capacity: number; releases: number };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly kind: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const MiB = 1 << 20;

/** Methods each known path takes (the Allow header of a 405). */
const ALLOW: Record<string, string> = {
  '/score': 'POST',
  '/score/batch': 'POST',
  '/health': 'GET, HEAD',
  '/ready': 'GET, HEAD',
  '/metrics': 'GET, HEAD',
};

function positive(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`createServer: ${name} must be a positive number, got ${v}`);
  return v;
}

function routeOf(pathname: string): Route {
  return pathname in ALLOW ? (pathname as Route) : 'other';
}

/**
 * Reads a body of at most `limit` bytes; a 413 HttpError past it, the signal's
 * reason when it aborts. A client that waits for `100 Continue` (Expect:
 * 100-continue) is told to send now: it was admitted. One that is refused
 * before this gets its 503 without having sent a byte of the body.
 */
function readBody(req: IncomingMessage, res: ServerResponse, limit: number, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    if (/\b100-continue\b/i.test(req.headers.expect ?? '')) res.writeContinue();
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (f: () => void): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      chunks.length = 0;
      f();
    };
    const onAbort = (): void => finish(() => reject(signal.reason as Error));
    signal.addEventListener('abort', onAbort);
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) return finish(() => reject(new HttpError(413, 'body-too-large', `body over the limit of ${limit} bytes`)));
      chunks.push(c);
    });
    req.on('end', () => {
      if (done) return;
      const body = Buffer.concat(chunks, size);
      finish(() => resolve(body));
    });
    req.on('error', (e) => finish(() => reject(e)));
    req.on('close', () => {
      if (!req.complete) finish(() => reject(new HttpError(400, 'aborted', 'the client closed the connection before sending the whole body')));
    });
  });
}

function scoreJson(s: Score): { mean: number; std: number; distribution: number[] } {
  return { mean: s.mean, std: s.std, distribution: s.distribution };
}

function imageErrorJson(e: ImageFileError): { error: { kind: string; message: string } } {
  return { error: { kind: e.kind, message: e.message } };
}

/** Whether the request carries a body (one the server may answer before reading). */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

export function createServer(scorer: ImageScorer, options: ServeOptions = {}): ScoreServer {
  const maxBody = positive('maxBodyBytes', options.maxBodyBytes, 20 * MiB);
  const maxBatchBody = positive('maxBatchBodyBytes', options.maxBatchBodyBytes, 64 * MiB);
  const maxBatchItems = positive('maxBatchItems', options.maxBatchItems, 64);
  const timeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs, 30_000);
  const shutdownMs = positive('shutdownTimeoutMs', options.shutdownTimeoutMs, 30_000);
  const queue = new AdmissionQueue(positive('maxQueue', options.maxQueue, 64));
  const gallery: GalleryHandler | null = options.gallery ? createGalleryHandler({ galleryDir: options.gallery.dir, imagesRoot: options.gallery.imagesRoot ?? null, prefix: '/' }) : null;

  let draining = false;
  const readiness = (): 'ready' | 'loading' | 'model-unavailable' => scorer.readiness?.() ?? 'ready';
  const isReady = (): boolean => readiness() === 'ready';
  const metrics = new ServiceMetrics(
    {
      queueDepth: () => queue.depth,
      queueCapacity: queue.capacity,
      ready: () => !draining && isReady() && !queue.full,
      model: () => scorer.stats,
      ...(scorer.pool ? { pool: () => scorer.pool! } : {}),
    },
    positive('latencyWindow', options.latencyWindow, 4096),
  );
  scorer.onQueueWait = (s) => metrics.queueWait(s);

  /** Requests being handled, each with the controller that abandons it. */
  const active = new Set<AbortController>();
  let drained: (() => void) | null = null;

  function send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.writableEnded || res.destroyed) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const h: Record<string, string | number> = {
      'content-type': typeof body === 'string' ? metrics.contentType : 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    };
    // Answered before the body arrived (a refusal, 413, a timeout): close rather than read the rest.
    // The socket ends after the answer; a client still sending is cut off a little later.
    const unread = hasBody(req) && !req.complete;
    if (draining || unread) h['connection'] = 'close';
    res.writeHead(status, h);
    res.end(text);
    if (unread) res.once('finish', () => setTimeout(() => req.socket.destroy(), 1000).unref());
  }

  function sendError(req: IncomingMessage, res: ServerResponse, e: unknown): void {
    if (e instanceof HttpError) {
      send(req, res, e.status, { error: { kind: e.kind, message: e.message } }, e.headers);
    } else if (e instanceof ImageFileError) {
      metrics.imageError(e.kind);
      send(req, res, 422, imageErrorJson(e));
    } else {
      send(req, res, 500, { error: { kind: 'internal', message: (e as Error).message } });
    }
  }

  function refuse(reason: 'queue-full' | 'not-ready' | 'shutting-down', message: string): HttpError {
    metrics.rejected(reason);
    return new HttpError(503, reason, message, reason === 'shutting-down' ? {} : { 'retry-after': '1' });
  }

  /** Refusals that need nothing read: shutting down, no model, no room for `n` images. */
  function admit(n: number): Slot {
    if (draining) throw refuse('shutting-down', 'the server is shutting down');
    if (!isReady()) throw refuse('not-ready', 'the model is not loaded yet (or no model process is running); retry later');
    const slot = queue.tryAcquire(n);
    if (!slot) throw refuse('queue-full', `queue full (${queue.depth} of ${queue.capacity} images in progress); retry later`);
    return slot;
  }

  async function scoreOne(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const length = Number(req.headers['content-length'] ?? NaN);
    if (length > maxBody) throw new HttpError(413, 'body-too-large', `body of ${length} bytes over the limit of ${maxBody}`);
    const slot = admit(1);
    try {
      const body = await readBody(req, res, maxBody, signal);
      const score = await scorer.score(body, 'request body');
      metrics.scored();
      send(req, res, 200, scoreJson(score));
    } finally {
      slot.release();
    }
  }

  async function scoreBatch(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const length = Number(req.headers['content-length'] ?? NaN);
    if (length > maxBatchBody) throw new HttpError(413, 'body-too-large', `body of ${length} bytes over the limit of ${maxBatchBody}`);
    // One image's slot while the body arrives; the rest once the item count is known.
    const slot = admit(1);
    try {
      const body = await readBody(req, res, maxBatchBody, signal);
      let images: unknown;
      try {
        images = (JSON.parse(body.toString('utf8')) as { images?: unknown } | null)?.images;
      } catch (e) {
        throw new HttpError(400, 'bad-request', `body is not JSON (${(e as Error).message}); expected {"images": ["<base64>", ...]}`);
      }
      if (!Array.isArray(images)) throw new HttpError(400, 'bad-request', 'body must be JSON {"images": ["<base64>", ...]}: no "images" array');
      if (images.length === 0) throw new HttpError(400, 'bad-request', '"images" is empty; send at least one base64 image');
      const bad = images.findIndex((s) => typeof s !== 'string');
      if (bad >= 0) {
        const v: unknown = images[bad];
        throw new HttpError(400, 'bad-request', `images[${bad}] is ${v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`}; each item must be a base64 string of an image file`);
      }
      if (images.length > maxBatchItems) throw new HttpError(400, 'bad-request', `${images.length} images, the limit is ${maxBatchItems} per request`);
      if (!slot.resize(images.length)) throw refuse('queue-full', `queue full: ${images.length} images do not fit (${queue.depth} of ${queue.capacity} in progress); retry later`);
      const results = await Promise.all(
        (images as string[]).map((b64, i) =>
          scorer.score(Buffer.from(b64, 'base64'), `images[${i}]`).then(
            (s) => {
              metrics.scored();
              return scoreJson(s);
            },
            (e: unknown) => {
              if (!(e instanceof ImageFileError)) throw e;
              metrics.imageError(e.kind);
              return imageErrorJson(e);
            },
          ),
        ),
      );
      send(req, res, 200, { results });
    } finally {
      slot.release();
    }
  }

  function health(req: IncomingMessage, res: ServerResponse): void {
    // Liveness only: answering at all is the signal. Nothing here depends on the model or the queue.
    send(req, res, 200, draining ? { status: 'ok', draining: true } : { status: 'ok' });
  }

  function ready(req: IncomingMessage, res: ServerResponse): void {
    const q = { depth: queue.depth, capacity: queue.capacity };
    const r = readiness();
    const reason = draining ? 'shutting-down' : r !== 'ready' ? r : queue.full ? 'queue-full' : null;
    if (reason) send(req, res, 503, { ready: false, reason, queue: q });
    else send(req, res, 200, { ready: true, queue: q });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, ctl: AbortController): Promise<void> {
    const t0 = performance.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    let route = routeOf(url.pathname);
    metrics.request(route === 'other' && gallery ? 'gallery' : route);
    let counted = false;
    const finished = () => {
      if (counted) return;
      counted = true;
      metrics.finished(route, res.statusCode, (performance.now() - t0) / 1e3);
    };
    res.once('finish', finished);
    res.once('close', () => {
      // A client that closes once it has read the whole response can beat
      // 'finish' (a streamed file): the response was ended, so it counts as
      // answered, not as an abort.
      if (res.writableFinished || res.writableEnded) return finished();
      metrics.aborted(route);
      ctl.abort(new HttpError(499, 'aborted', 'the client closed the connection'));
    });
    const timer = setTimeout(() => {
      metrics.timeout();
      const e = new HttpError(503, 'timeout', `not answered within ${timeoutMs} ms`);
      // A body still arriving is abandoned now; an image with the model keeps its slot until the model is done.
      ctl.abort(e);
      sendError(req, res, e);
    }, timeoutMs);
    try {
      if (gallery && route === 'other') {
        // Labelled before the call: the response may finish before the handler's promise settles.
        route = 'gallery';
        if (await gallery(req, res)) return;
        route = 'other';
      }
      const allow = ALLOW[url.pathname];
      if (!allow) throw new HttpError(404, 'not-found', `no route ${url.pathname} (POST /score, POST /score/batch, GET /health, GET /ready, GET /metrics)`);
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      if (!allow.split(', ').includes(method ?? '')) throw new HttpError(405, 'method-not-allowed', `${url.pathname} takes ${allow}, not ${req.method}`, { allow });
      if (url.pathname === '/health') return health(req, res);
      if (url.pathname === '/ready') return ready(req, res);
      if (url.pathname === '/metrics') {
        const wantsJson = url.searchParams.get('format') === 'json' || (url.searchParams.get('format') !== 'prometheus' && (req.headers.accept ?? '').includes('application/json'));
        return send(req, res, 200, wantsJson ? metrics.json() : await metrics.prometheus());
      }
      if (url.pathname === '/score') await scoreOne(req, res, ctl.signal);
      else await scoreBatch(req, res, ctl.signal);
    } catch (e) {
      sendError(req, res, e);
    } finally {
      clearTimeout(timer);
    }
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const ctl = new AbortController();
    active.add(ctl);
    void handle(req, res, ctl).finally(() => {
      active.delete(ctl);
      if (active.size === 0 && drained) drained();
    });
  };
  const server = createHttpServer({ connectionsCheckingInterval: 1000 }, onRequest);
  // Expect: 100-continue comes here instead of 'request' (node would otherwise say Continue at once):
  // readBody says it once the request is admitted, so a refusal costs the client no upload.
  server.on('checkContinue', onRequest);
  // node's own limits, behind the handler's timer: a request that has not arrived by then is cut (408).
  server.requestTimeout = timeoutMs + 1000;
  server.headersTimeout = Math.min(timeoutMs, 60_000);

  let closing: Promise<void> | null = null;
  return {
    server,
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    close() {
      closing ??= (async () => {
        draining = true;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (active.size > 0) {
          const finished = new Promise<void>((resolve) => (drained = resolve));
          let timer: NodeJS.Timeout | undefined;
          const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, shutdownMs)));
          await Promise.race([finished, timedOut]);
          clearTimeout(timer);
        }
        // Past the shutdown timeout: bodies still arriving are abandoned (their slots freed) before the connections go.
        for (const ctl of active) ctl.abort(new HttpError(503, 'shutting-down', 'the server is shutting down'));
        server.closeAllConnections();
        await stopped;
      })();
      return closing;
    },
    metrics: () => metrics.json(),
    queue: () => ({ depth: queue.depth, capacity: queue.capacity, releases: queue.releases }),
  };
}
