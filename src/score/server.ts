// The HTTP scoring service (node:http, no framework).
//
//   POST /score           body: the bytes of one image file → 200 { mean, std, distribution }
//   POST /score/batch     body: JSON { "images": ["<base64>", …] } → 200 { "results": [ {mean, std, distribution} | {error} … ] }
//   GET  /health          200 { status: "ok", model, queue } (503 with status "draining" during shutdown)
//   GET  /metrics         JSON counters and latency quantiles; Prometheus text with ?format=prometheus
//
// Errors are JSON { error: { kind, message } }:
//   400 bad-request     malformed batch JSON, empty batch, too many items
//   404/405             unknown path / method
//   408                 the body did not arrive within the request timeout (node's requestTimeout)
//   413 body-too-large  Content-Length (or the bytes received) over the limit
//   422 <image kind>    not-an-image, truncated, zero-byte, too-large (pixels), unreadable
//   503 queue-full      more images admitted than maxQueue (Retry-After: 1)
//   503 timeout         not answered within requestTimeoutMs (the work finishes, the answer is dropped)
//   503 shutting-down   after close() began
//
// Admission happens before the body is read: a request takes a queue slot
// per image (1, or the batch's item count once parsed) and gives it back when
// its work has finished, so the queue bounds decoded images held in memory
// and work the model still owes, whether or not a client is still waiting.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { ImageFileError } from '../data/errors.js';
import type { Score, Scorer } from './scorer.js';

/** What the server needs from a scorer (a Scorer, or a stand-in in tests). */
export type ImageScorer = Pick<Scorer, 'score' | 'bins' | 'preprocessing' | 'modelPath' | 'stats' | 'maxBatch'>;

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
  /** Latency samples kept for the quantiles (default 4096, the most recent). */
  latencyWindow?: number;
}

export interface ServerMetrics {
  uptimeSeconds: number;
  requests: Record<string, number>;
  /** Responses by HTTP status. */
  responses: Record<string, number>;
  imagesScored: number;
  imageErrors: Record<string, number>;
  rejectedQueueFull: number;
  timeouts: number;
  queue: { depth: number; capacity: number };
  /** Of successful score requests (single and batch), ms from arrival to response. */
  latencyMs: { count: number; p50: number | null; p90: number | null; p99: number | null; max: number | null };
  model: { batches: number; images: number; meanBatch: number | null; busySeconds: number };
}

export interface ScoreServer {
  readonly server: Server;
  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(port?: number, host?: string): Promise<AddressInfo>;
  /** Stops accepting, finishes accepted requests, then closes every connection. */
  close(): Promise<void>;
  metrics(): ServerMetrics;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}

const MiB = 1 << 20;

function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  // Nearest rank.
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function positive(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`createServer: ${name} must be a positive number, got ${v}`);
  return v;
}

/** Reads a body of at most `limit` bytes; a 413 HttpError past it. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        reject(new HttpError(413, 'body-too-large', `body over the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks, size));
    });
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new HttpError(400, 'aborted', 'the client closed the connection before sending the whole body'));
    });
  });
}

function scoreJson(s: Score): { mean: number; std: number; distribution: number[] } {
  return { mean: s.mean, std: s.std, distribution: s.distribution };
}

export function createServer(scorer: ImageScorer, options: ServeOptions = {}): ScoreServer {
  const maxBody = positive('maxBodyBytes', options.maxBodyBytes, 20 * MiB);
  const maxBatchBody = positive('maxBatchBodyBytes', options.maxBatchBodyBytes, 64 * MiB);
  const maxBatchItems = positive('maxBatchItems', options.maxBatchItems, 64);
  const maxQueue = positive('maxQueue', options.maxQueue, 64);
  const timeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs, 30_000);
  const shutdownMs = positive('shutdownTimeoutMs', options.shutdownTimeoutMs, 30_000);
  const latencyWindow = positive('latencyWindow', options.latencyWindow, 4096);
  const started = performance.now();

  let queued = 0;
  let active = 0;
  let draining = false;
  let drained: (() => void) | null = null;
  const counters = {
    requests: {} as Record<string, number>,
    responses: {} as Record<string, number>,
    imagesScored: 0,
    imageErrors: {} as Record<string, number>,
    rejectedQueueFull: 0,
    timeouts: 0,
  };
  const latencies: number[] = [];
  let latencyNext = 0;
  const bump = (rec: Record<string, number>, key: string, by = 1): void => {
    rec[key] = (rec[key] ?? 0) + by;
  };
  const recordLatency = (ms: number): void => {
    if (latencies.length < latencyWindow) latencies.push(ms);
    else latencies[latencyNext] = ms;
    latencyNext = (latencyNext + 1) % latencyWindow;
  };

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.writableEnded) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    bump(counters.responses, String(status));
    const h: Record<string, string | number> = {
      'content-type': typeof body === 'string' ? 'text/plain; version=0.0.4' : 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    };
    if (draining) h['connection'] = 'close';
    res.writeHead(status, h);
    res.end(text);
  }

  function sendError(res: ServerResponse, e: unknown): void {
    if (e instanceof HttpError) {
      const headers: Record<string, string> = e.status === 503 && e.kind === 'queue-full' ? { 'retry-after': '1' } : {};
      // A body we will not read: close the connection after answering rather than reading it to the end.
      if (e.status === 413) headers['connection'] = 'close';
      send(res, e.status, { error: { kind: e.kind, message: e.message } }, headers);
    } else if (e instanceof ImageFileError) {
      bump(counters.imageErrors, e.kind);
      send(res, 422, { error: { kind: e.kind, message: `${e.file}: ${e.detail}` } });
    } else {
      send(res, 500, { error: { kind: 'internal', message: (e as Error).message } });
    }
  }

  function admit(n: number): void {
    if (queued + n > maxQueue) {
      counters.rejectedQueueFull++;
      throw new HttpError(503, 'queue-full', `queue full (${queued} of ${maxQueue} images in progress); retry later`);
    }
    queued += n;
  }

  async function scoreOne(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const length = Number(req.headers['content-length'] ?? NaN);
    if (length > maxBody) throw new HttpError(413, 'body-too-large', `body of ${length} bytes over the limit of ${maxBody}`);
    admit(1);
    try {
      const body = await readBody(req, maxBody);
      const score = await scorer.score(body, 'request body');
      counters.imagesScored++;
      send(res, 200, scoreJson(score));
    } finally {
      queued -= 1;
    }
  }

  async function scoreBatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const length = Number(req.headers['content-length'] ?? NaN);
    if (length > maxBatchBody) throw new HttpError(413, 'body-too-large', `body of ${length} bytes over the limit of ${maxBatchBody}`);
    // One slot while the body arrives; the rest once the item count is known.
    admit(1);
    let held = 1;
    try {
      const body = await readBody(req, maxBatchBody);
      let images: unknown;
      try {
        images = (JSON.parse(body.toString('utf8')) as { images?: unknown }).images;
      } catch {
        throw new HttpError(400, 'bad-request', 'body must be JSON {"images": ["<base64>", ...]}');
      }
      if (!Array.isArray(images) || images.length === 0 || !images.every((s) => typeof s === 'string')) {
        throw new HttpError(400, 'bad-request', 'body must be JSON {"images": ["<base64>", ...]} with at least one image');
      }
      if (images.length > maxBatchItems) throw new HttpError(400, 'bad-request', `${images.length} images, the limit is ${maxBatchItems} per request`);
      admit(images.length - 1);
      held = images.length;
      const results = await Promise.all(
        (images as string[]).map((b64, i) =>
          scorer.score(Buffer.from(b64, 'base64'), `images[${i}]`).then(
            (s) => {
              counters.imagesScored++;
              return scoreJson(s);
            },
            (e: unknown) => {
              if (!(e instanceof ImageFileError)) throw e;
              bump(counters.imageErrors, e.kind);
              return { error: { kind: e.kind, message: `${e.file}: ${e.detail}` } };
            },
          ),
        ),
      );
      send(res, 200, { results });
    } finally {
      queued -= held;
    }
  }

  function health(res: ServerResponse): void {
    const body = {
      status: draining ? 'draining' : 'ok',
      model: { path: scorer.modelPath, size: scorer.preprocessing.size, bins: scorer.bins, maxBatch: scorer.maxBatch },
      queue: { depth: queued, capacity: maxQueue },
    };
    send(res, draining ? 503 : 200, body);
  }

  function metrics(): ServerMetrics {
    const sorted = [...latencies].sort((a, b) => a - b);
    const s = scorer.stats;
    return {
      uptimeSeconds: (performance.now() - started) / 1e3,
      requests: { ...counters.requests },
      responses: { ...counters.responses },
      imagesScored: counters.imagesScored,
      imageErrors: { ...counters.imageErrors },
      rejectedQueueFull: counters.rejectedQueueFull,
      timeouts: counters.timeouts,
      queue: { depth: queued, capacity: maxQueue },
      latencyMs: { count: sorted.length, p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? null },
      model: { batches: s.batches, images: s.images, meanBatch: s.batches > 0 ? s.images / s.batches : null, busySeconds: s.modelMs / 1e3 },
    };
  }

  function prometheus(m: ServerMetrics): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [string, number | null][]): void => {
      lines.push(`# HELP cskd_${name} ${help}`, `# TYPE cskd_${name} ${type}`);
      for (const [labels, v] of samples) if (v !== null) lines.push(`cskd_${name}${labels} ${v}`);
    };
    metric('requests_total', 'counter', 'Requests by route.', Object.entries(m.requests).map(([k, v]) => [`{route="${k}"}`, v]));
    metric('responses_total', 'counter', 'Responses by HTTP status.', Object.entries(m.responses).map(([k, v]) => [`{status="${k}"}`, v]));
    metric('images_scored_total', 'counter', 'Images scored.', [['', m.imagesScored]]);
    metric('image_errors_total', 'counter', 'Bad images by kind.', Object.entries(m.imageErrors).map(([k, v]) => [`{kind="${k}"}`, v]));
    metric('rejected_total', 'counter', 'Requests refused because the queue was full.', [['', m.rejectedQueueFull]]);
    metric('timeouts_total', 'counter', 'Requests not answered in time.', [['', m.timeouts]]);
    metric('queue_depth', 'gauge', 'Images admitted and not finished.', [['', m.queue.depth]]);
    metric('latency_ms', 'summary', 'Latency of successful score requests (recent window).', [
      ['{quantile="0.5"}', m.latencyMs.p50],
      ['{quantile="0.9"}', m.latencyMs.p90],
      ['{quantile="0.99"}', m.latencyMs.p99],
    ]);
    metric('model_batches_total', 'counter', 'Model calls.', [['', m.model.batches]]);
    metric('model_busy_seconds_total', 'counter', 'Time inside model calls.', [['', m.model.busySeconds]]);
    return `${lines.join('\n')}\n`;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = `${req.method} ${url.pathname}`;
    bump(counters.requests, route);
    const timer = setTimeout(() => {
      counters.timeouts++;
      send(res, 503, { error: { kind: 'timeout', message: `not answered within ${timeoutMs} ms` } });
    }, timeoutMs);
    try {
      if (url.pathname === '/health' && req.method === 'GET') return health(res);
      if (url.pathname === '/metrics' && req.method === 'GET') {
        const m = metrics();
        const wantsText = url.searchParams.get('format') === 'prometheus' || (req.headers.accept ?? '').startsWith('text/plain');
        return send(res, 200, wantsText ? prometheus(m) : m);
      }
      const isScore = url.pathname === '/score' || url.pathname === '/score/batch';
      if (!isScore) throw new HttpError(404, 'not-found', `no route ${url.pathname} (POST /score, POST /score/batch, GET /health, GET /metrics)`);
      if (req.method !== 'POST') throw new HttpError(405, 'method-not-allowed', `${url.pathname} takes POST`);
      if (draining) throw new HttpError(503, 'shutting-down', 'the server is shutting down');
      if (url.pathname === '/score') await scoreOne(req, res);
      else await scoreBatch(req, res);
      if (res.statusCode === 200) recordLatency(performance.now() - t0);
    } catch (e) {
      sendError(res, e);
    } finally {
      clearTimeout(timer);
    }
  }

  const server = createHttpServer((req, res) => {
    active++;
    handle(req, res).finally(() => {
      active--;
      if (active === 0 && drained) drained();
    });
  });
  // node's own limit on receiving a request (answers 408).
  server.requestTimeout = timeoutMs;
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
        if (active > 0) {
          const finished = new Promise<void>((resolve) => (drained = resolve));
          let timer: NodeJS.Timeout | undefined;
          const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, shutdownMs)));
          await Promise.race([finished, timedOut]);
          clearTimeout(timer);
        }
        server.closeAllConnections();
        await stopped;
      })();
      return closing;
    },
    metrics,
  };
}
