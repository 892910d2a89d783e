// A pool of model processes for the scoring service: each child
// (model_process.ts) decodes the images it is sent and runs them through one
// onnxruntime session with its own intra-op threads, batching as the Scorer
// does. The service's JS thread only parses HTTP and passes encoded bytes on.
//
// Why processes and not worker_threads: a spike on onnxruntime-node 1.30
// (Node 20) ran sessions in worker threads fine while every worker was closed
// in order (release, then exit), but terminating a worker during a model call,
// or process.exit() while one ran, aborted the whole process ("terminate called
// after throwing an instance of 'Napi::Error'", SIGABRT, 3 of 3 runs each). A
// service must survive a stuck or crashing call, so the sessions live in child
// processes: SIGKILL of a child during a call cost the parent nothing in the
// same spike, at the same throughput (docs/scoring.md has the figures).
//
// Why decoding is there too, at a lower CPU priority (nice, default 10 levels
// below the service): under full load decoders and model threads want every
// CPU. At equal priority the service's JS thread waited its turn behind them,
// and /health took hundreds of ms; niced, they take what the JS thread leaves
// (docs/scoring.md, BENCHMARKS.md). A nice value orders this service's own
// threads; on a machine with other work it also yields to that.
//
// An image goes to the warm child with the fewest images in hand. A child that
// dies is replaced (after restartDelayMs); the images it held fail with an
// error naming it. A child that holds images and answers nothing for
// callTimeoutMs is stuck: it is killed, and so replaced, the same way. The
// pool is ready once every child has loaded the model and run one warm-up call.
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { ImageFileError } from '../data/errors.js';
import type { FromModel, ModelProcessArgs, ToModel } from './model_process.js';
import type { Score, ScorerStats } from './scorer.js';

export interface ModelPoolOptions {
  /** Model processes. */
  processes: number;
  /** onnxruntime intra-op threads in each. */
  threads: number;
  /** Most images per model call (default 16). */
  maxBatch?: number;
  /** Refuse images with more pixels than this (default: the decoder's 50 megapixels). */
  maxPixels?: number;
  /** Nice levels the model processes run below this process (0–19, default 10). */
  nice?: number;
  /** Wait before replacing a dead child (ms, default 1000). */
  restartDelayMs?: number;
  /**
   * A child holding images that answers nothing for this long is stuck (a
   * hung session, a stopped process): it is killed and replaced, and its
   * images fail, so the service's queue slots they hold come back (ms,
   * default 30000).
   */
  callTimeoutMs?: number;
}

interface Call {
  id: number;
  input: Uint8Array | string;
  label: string;
  resolve: (s: Score) => void;
  reject: (e: Error) => void;
}

interface Member {
  child: ChildProcess;
  /** Loaded and warmed up: takes images. */
  warm: boolean;
  /** Images sent and not answered, by id. */
  calls: Map<number, Call>;
  /** Its Scorer's counters, as last reported. */
  stats: ScorerStats;
  /** Armed while it holds images; every answer restarts it (callTimeoutMs). */
  deadline: NodeJS.Timeout | null;
  /** Killed for missing it, in ms: the exit's message says so. */
  stuckAfterMs: number | null;
}

/** How to start model_process: the compiled .js, or the .ts source through tsx (tests, `tsx` runs). */
function entryOf(): { file: string; execArgv: string[] } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const tsx = pathToFileURL(createRequire(here).resolve('tsx')).href;
    return { file: fileURLToPath(new URL('./model_process.ts', here)), execArgv: ['--import', tsx] };
  }
  return { file: fileURLToPath(new URL('./model_process.js', here)), execArgv: [] };
}

const addStats = (a: ScorerStats, b: ScorerStats): ScorerStats => ({ batches: a.batches + b.batches, images: a.images + b.images, modelMs: a.modelMs + b.modelMs });

export class ModelPool {
  readonly processes: number;
  readonly threads: number;
  /** Children replaced after dying. */
  restarts = 0;
  /** Resolves once every child is loaded and warm; rejects when the model cannot be loaded. */
  readonly whenReady: Promise<void>;
  /** Called with each image's wait (s) from decoded to the start of its model call. */
  onQueueWait: ((seconds: number) => void) | null = null;
  readonly #modelPath: string;
  readonly #args: ModelProcessArgs;
  readonly #options: ModelPoolOptions;
  readonly #members = new Set<Member>();
  readonly #waiting: Call[] = [];
  /** Counters of the children that are gone. */
  #retired: ScorerStats = { batches: 0, images: 0, modelMs: 0 };
  #nextId = 1;
  #closing = false;
  #everReady = false;
  #settleReady!: { resolve: () => void; reject: (e: Error) => void };

  private constructor(modelPath: string, options: ModelPoolOptions) {
    this.#modelPath = modelPath;
    this.#options = options;
    this.processes = options.processes;
    this.threads = options.threads;
    this.#args = { model: modelPath, threads: options.threads, maxBatch: options.maxBatch ?? 16, maxPixels: options.maxPixels ?? null, nice: options.nice ?? 10 };
    this.whenReady = new Promise((resolve, reject) => (this.#settleReady = { resolve, reject }));
    // Nobody may be waiting on it yet; the rejection is still reported by whoever awaits it later.
    this.whenReady.catch(() => undefined);
  }

  /** Starts the children and returns at once; await whenReady to know they can score. */
  static start(modelPath: string, options: ModelPoolOptions): ModelPool {
    for (const k of ['processes', 'threads', 'maxBatch'] as const) {
      const v = options[k];
      if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new RangeError(`ModelPool: ${k} must be a positive integer, got ${v}`);
    }
    const nice = options.nice;
    if (nice !== undefined && !(Number.isInteger(nice) && nice >= 0 && nice <= 19)) throw new RangeError(`ModelPool: nice must be an integer in 0..19, got ${nice}`);
    const t = options.callTimeoutMs;
    if (t !== undefined && !(Number.isFinite(t) && t > 0)) throw new RangeError(`ModelPool: callTimeoutMs must be a positive number of ms, got ${t}`);
    const pool = new ModelPool(modelPath, options);
    for (let i = 0; i < options.processes; i++) pool.#spawn();
    return pool;
  }

  /** Every child was warm once (a later 'not ready' means none is alive now). */
  get everReady(): boolean {
    return this.#everReady;
  }

  /** At least one warm child, and not closing. */
  get ready(): boolean {
    if (this.#closing) return false;
    for (const m of this.#members) if (m.warm) return true;
    return false;
  }

  /** Warm children holding no image, less the images waiting for one. */
  get idle(): number {
    let n = 0;
    for (const m of this.#members) if (m.warm && m.calls.size === 0) n++;
    return Math.max(0, n - this.#waiting.length);
  }

  /** The children's Scorer counters, summed (those that died included). */
  get stats(): ScorerStats {
    let s = this.#retired;
    for (const m of this.#members) s = addStats(s, m.stats);
    return s;
  }

  /** Process ids of the children alive now. */
  pids(): number[] {
    return [...this.#members].map((m) => m.child.pid).filter((p): p is number => p !== undefined);
  }

  /** Scores one encoded image (or an image file's path). Rejects with an ImageFileError for a bad image. */
  score(input: Uint8Array | string, label: string): Promise<Score> {
    if (this.#closing) return Promise.reject(new Error('model pool: closed'));
    return new Promise((resolve, reject) => {
      this.#waiting.push({ id: this.#nextId++, input, label, resolve, reject });
      this.#dispatch();
    });
  }

  /** Lets the images sent finish (up to timeoutMs), then stops every child. Images not yet sent fail. */
  async close(timeoutMs = 10_000): Promise<void> {
    this.#closing = true;
    for (const c of this.#waiting.splice(0)) c.reject(new Error('model pool: closed'));
    if (!this.#everReady) this.#settleReady.reject(new Error('model pool: closed before it was ready'));
    const exits = [...this.#members].map((m) => {
      if (m.child.exitCode !== null || m.child.signalCode !== null) return Promise.resolve();
      const exited = new Promise<void>((resolve) => m.child.once('exit', () => resolve()));
      if (m.child.connected) m.child.send({ type: 'close' } satisfies ToModel);
      const timer = setTimeout(() => m.child.kill('SIGKILL'), timeoutMs);
      return exited.finally(() => clearTimeout(timer));
    });
    await Promise.all(exits);
  }

  #dispatch(): void {
    while (this.#waiting.length > 0) {
      let best: Member | null = null;
      for (const m of this.#members) {
        if (m.warm && m.child.connected && (!best || m.calls.size < best.calls.size)) best = m;
      }
      if (!best) return;
      const call = this.#waiting.shift()!;
      best.calls.set(call.id, call);
      best.child.send({ type: 'score', id: call.id, input: call.input, label: call.label } satisfies ToModel);
      if (!best.deadline) this.#armDeadline(best);
    }
  }

  #armDeadline(m: Member): void {
    const ms = this.#options.callTimeoutMs ?? 30_000;
    m.deadline = setTimeout(() => {
      m.stuckAfterMs = ms;
      process.stderr.write(`model pool: model process ${m.child.pid} answered nothing within ${ms} ms while holding ${m.calls.size} image(s); killing it\n`);
      m.child.kill('SIGKILL');
    }, ms);
    m.deadline.unref();
  }

  #clearDeadline(m: Member): void {
    if (m.deadline) clearTimeout(m.deadline);
    m.deadline = null;
  }

  #spawn(): void {
    const { file, execArgv } = entryOf();
    const child = fork(file, [JSON.stringify(this.#args)], {
      execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const member: Member = { child, warm: false, calls: new Map(), stats: { batches: 0, images: 0, modelMs: 0 }, deadline: null, stuckAfterMs: null };
    this.#members.add(member);
    child.on('message', (m: FromModel) => {
      if (m.type === 'ready') {
        member.warm = true;
        this.#checkReady();
        return this.#dispatch();
      }
      if (m.type === 'load-failed') return this.#fail(member, new Error(`model pool: cannot load ${this.#modelPath}: ${m.message}`));
      member.stats = m.stats;
      for (const w of m.waits) this.onQueueWait?.(w);
      const call = member.calls.get(m.id);
      if (!call) return;
      member.calls.delete(m.id);
      this.#clearDeadline(member);
      if (member.calls.size > 0) this.#armDeadline(member);
      if (m.type === 'scored') call.resolve(m.score);
      else if (m.type === 'rejected') call.reject(new ImageFileError(m.error.file, m.error.kind, m.error.detail));
      else call.reject(new Error(`model process ${child.pid}: ${m.message}`));
    });
    child.on('error', () => undefined); // 'exit' follows and does the accounting
    child.on('exit', (code, signal) => {
      this.#members.delete(member);
      this.#clearDeadline(member);
      this.#retired = addStats(this.#retired, member.stats);
      const why = member.stuckAfterMs !== null ? `was killed after answering nothing for ${member.stuckAfterMs} ms` : `exited (${signal ?? `code ${code}`})`;
      for (const call of member.calls.values()) call.reject(new Error(`model process ${child.pid} ${why} while scoring ${call.label}`));
      member.calls.clear();
      if (this.#closing) return;
      this.restarts++;
      setTimeout(() => {
        if (!this.#closing) this.#spawn();
      }, this.#options.restartDelayMs ?? 1000).unref();
    });
  }

  #checkReady(): void {
    if (this.#everReady) return;
    const warm = [...this.#members].filter((m) => m.warm).length;
    if (warm >= this.processes) {
      this.#everReady = true;
      this.#settleReady.resolve();
    }
  }

  /**
   * A child cannot load or warm up. Before the pool was ever ready the model
   * itself is at fault: stop and fail whoever waits. After, only that child
   * goes (and is replaced, as a crash would be).
   */
  #fail(member: Member, e: Error): void {
    if (this.#everReady) {
      process.stderr.write(`${e.message}\n`);
      member.child.kill('SIGKILL');
      return;
    }
    this.#settleReady.reject(e);
    void this.close(0);
  }
}
