// What the scoring service counts, in one place: Prometheus metrics through
// prom-client (one Registry per server, so several servers in one process do
// not mix) and the JSON view of GET /metrics read from the same numbers.
//
// Latency runs from a request's arrival to its last byte written (the
// response's 'finish'), so queue wait, decoding and the model call are all in
// it; queue wait (decoded image → its model call starts) has its own
// histogram. A client that closes the connection before its response is
// written is an abort, not a status.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Seconds; from a fast /health to a long upload. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The routes metrics are labelled by; anything else is 'other' (so a probe cannot grow the label set). */
export const ROUTES = ['/score', '/score/batch', '/health', '/ready', '/metrics', 'gallery', 'other'] as const;
export type Route = (typeof ROUTES)[number];

export interface ServiceSources {
  queueDepth: () => number;
  queueCapacity: number;
  ready: () => boolean;
  model: () => { batches: number; images: number; modelMs: number };
  /** Model processes and their restarts, when scoring runs in a pool. */
  pool?: () => { processes: number; threads: number; restarts: number };
}

export interface ServerMetrics {
  uptimeSeconds: number;
  ready: boolean;
  requests: Record<string, number>;
  /** Responses by HTTP status. */
  responses: Record<string, number>;
  /** Requests whose client left before the response was written. */
  aborted: number;
  imagesScored: number;
  imageErrors: Record<string, number>;
  /** 503s by reason: queue-full, not-ready, shutting-down. */
  rejected: Record<string, number>;
  timeouts: number;
  queue: { depth: number; capacity: number };
  /** Score requests answered 200: ms from arrival to last byte (most recent window). */
  latencyMs: Quantiles;
  /** Images: ms from decoded to the start of their model call (most recent window; pooled scorers only). */
  queueWaitMs: Quantiles;
  model: { batches: number; images: number; meanBatch: number | null; busySeconds: number; processes?: number; threadsEach?: number; restarts?: number };
}

export interface Quantiles {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** The most recent `size` samples, for the JSON view's quantiles. */
class Window {
  readonly #xs: number[] = [];
  #next = 0;
  constructor(readonly size: number) {}
  add(x: number): void {
    if (this.#xs.length < this.size) this.#xs.push(x);
    else this.#xs[this.#next] = x;
    this.#next = (this.#next + 1) % this.size;
  }
  quantiles(): Quantiles {
    const s = [...this.#xs].sort((a, b) => a - b);
    // Nearest rank.
    const q = (p: number): number | null => (s.length === 0 ? null : s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!);
    return { count: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: s.at(-1) ?? null };
  }
}

function bump(rec: Record<string, number>, key: string, by = 1): void {
  rec[key] = (rec[key] ?? 0) + by;
}

/** A counter whose value is read from `values` at scrape time. */
function mirroredCounter(registry: Registry, name: string, help: string, labelName: string | null, values: () => Record<string, number>): void {
  new Counter({
    name,
    help,
    labelNames: labelName ? [labelName] : [],
    registers: [registry],
    collect() {
      this.reset();
      for (const [k, v] of Object.entries(values())) {
        if (labelName) this.inc({ [labelName]: k }, v);
        else this.inc(v);
      }
    },
  });
}

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly #started = performance.now();
  readonly #src: ServiceSources;
  readonly #requests: Record<string, number> = {};
  readonly #responses: Record<string, number> = {};
  readonly #imageErrors: Record<string, number> = {};
  readonly #rejected: Record<string, number> = {};
  readonly #aborted: Record<string, number> = {};
  #imagesScored = 0;
  #timeouts = 0;
  readonly #latency: Window;
  readonly #queueWait: Window;
  readonly #duration: Histogram<'route' | 'status'>;
  readonly #queueWaitHist: Histogram;

  constructor(src: ServiceSources, window = 4096) {
    this.#src = src;
    this.#latency = new Window(window);
    this.#queueWait = new Window(window);
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    this.#duration = new Histogram({
      name: 'cskd_http_request_duration_seconds',
      help: 'Time from a request arriving to the last byte of its response, queue wait included.',
      labelNames: ['route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers: [r],
    });
    this.#queueWaitHist = new Histogram({
      name: 'cskd_queue_wait_seconds',
      help: 'Time an image waits from decoded to the start of its model call.',
      buckets: LATENCY_BUCKETS,
      registers: [r],
    });
    mirroredCounter(r, 'cskd_http_requests_total', 'Requests by route.', 'route', () => this.#requests);
    mirroredCounter(r, 'cskd_http_responses_total', 'Responses by HTTP status.', 'status', () => this.#responses);
    mirroredCounter(r, 'cskd_http_aborted_total', 'Requests whose client left before the response was written, by route.', 'route', () => this.#aborted);
    mirroredCounter(r, 'cskd_images_scored_total', 'Images scored.', null, () => ({ '': this.#imagesScored }));
    mirroredCounter(r, 'cskd_image_errors_total', 'Bad images by kind.', 'kind', () => this.#imageErrors);
    mirroredCounter(r, 'cskd_rejected_total', 'Score requests refused with 503, by reason.', 'reason', () => this.#rejected);
    mirroredCounter(r, 'cskd_timeouts_total', 'Requests not answered within the request timeout.', null, () => ({ '': this.#timeouts }));
    mirroredCounter(r, 'cskd_model_batches_total', 'Model calls.', null, () => ({ '': src.model().batches }));
    mirroredCounter(r, 'cskd_model_images_total', 'Images through the model.', null, () => ({ '': src.model().images }));
    mirroredCounter(r, 'cskd_model_busy_seconds_total', 'Time inside model calls (summed over model processes).', null, () => ({ '': src.model().modelMs / 1e3 }));
    if (src.pool) {
      const pool = src.pool;
      mirroredCounter(r, 'cskd_model_restarts_total', 'Model processes replaced after dying.', null, () => ({ '': pool().restarts }));
    }
    const gauge = (name: string, help: string, value: () => number): void => {
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(value());
        },
      });
    };
    gauge('cskd_queue_depth', 'Images admitted and not finished.', src.queueDepth);
    gauge('cskd_queue_capacity', 'Most images admitted at once (--max-queue).', () => src.queueCapacity);
    gauge('cskd_ready', '1 when GET /ready answers 200.', () => (src.ready() ? 1 : 0));
  }

  request(route: Route): void {
    bump(this.#requests, route);
  }

  /** A response fully written: its status, and its latency from arrival. */
  finished(route: Route, status: number, seconds: number): void {
    bump(this.#responses, String(status));
    this.#duration.observe({ route, status: String(status) }, seconds);
    if (status === 200 && (route === '/score' || route === '/score/batch')) this.#latency.add(seconds * 1e3);
  }

  aborted(route: Route): void {
    bump(this.#aborted, route);
  }

  rejected(reason: string): void {
    bump(this.#rejected, reason);
  }

  timeout(): void {
    this.#timeouts++;
  }

  scored(n = 1): void {
    this.#imagesScored += n;
  }

  imageError(kind: string): void {
    bump(this.#imageErrors, kind);
  }

  queueWait(seconds: number): void {
    this.#queueWaitHist.observe(seconds);
    this.#queueWait.add(seconds * 1e3);
  }

  /** Prometheus text exposition (format 0.0.4). */
  prometheus(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  json(): ServerMetrics {
    const m = this.#src.model();
    const pool = this.#src.pool?.();
    return {
      uptimeSeconds: (performance.now() - this.#started) / 1e3,
      ready: this.#src.ready(),
      requests: { ...this.#requests },
      responses: { ...this.#responses },
      aborted: Object.values(this.#aborted).reduce((a, b) => a + b, 0),
      imagesScored: this.#imagesScored,
      imageErrors: { ...this.#imageErrors },
      rejected: { ...this.#rejected },
      timeouts: this.#timeouts,
      queue: { depth: this.#src.queueDepth(), capacity: this.#src.queueCapacity },
      latencyMs: this.#latency.quantiles(),
      queueWaitMs: this.#queueWait.quantiles(),
      model: {
        batches: m.batches,
        images: m.images,
        meanBatch: m.batches > 0 ? m.images / m.batches : null,
        busySeconds: m.modelMs / 1e3,
        ...(pool ? { processes: pool.processes, threadsEach: pool.threads, restarts: pool.restarts } : {}),
      },
    };
  }
}
