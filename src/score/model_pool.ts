// A pool of model processes for the scoring service: each child
// (model_process.ts) holds one onnxruntime session with its own intra-op
// threads, so model calls never run on the service's JS thread.
//
// Why processes and not worker_threads: a spike on onnxruntime-node 1.30
// (Node 20) ran sessions in worker threads fine while every worker was closed
// in order (release, then exit), but terminating a worker during a model call,
// or process.exit() while one ran, aborted the whole process ("terminate called
// after throwing an instance of 'Napi::Error'", SIGABRT, 3 of 3 runs each). A
// service must survive a stuck or crashing call, so the sessions live in child
// processes: SIGKILL of a child during a call cost the parent nothing in the
// same spike, at the same throughput (docs/scoring.md has the figures). The
// price is a copy of each batch over the IPC pipe (structured clone).
//
// A child that dies is replaced (after restartDelayMs); the calls it held fail
// with an error naming it. A child that holds a call past callTimeoutMs is
// killed, and so replaced, the same way. The pool is ready once every child
// has loaded the model and answered one warm-up call.
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

import type { FromModel, ToModel } from './model_process.js';

export interface ModelPoolOptions {
  /** Model processes. */
  processes: number;
  /** onnxruntime intra-op threads in each. */
  threads: number;
  /** Image side of the model's input. */
  size: number;
  /** Name of the model's pixel input (default pixel_values). */
  inputName?: string;
  /** Wait before replacing a dead child (ms, default 1000). */
  restartDelayMs?: number;
  /**
   * A model call not answered within this is stuck (a hung session, a stopped
   * process): its child is killed and replaced, and the call fails, so the
   * service's queue slots it holds come back (ms, default 30000).
   */
  callTimeoutMs?: number;
}

interface Call {
  id: number;
  batch: number;
  pixels: Float32Array;
  resolve: (distribution: Float32Array) => void;
  reject: (e: Error) => void;
}

interface Member {
  child: ChildProcess;
  /** Loaded and warmed up: takes calls. */
  warm: boolean;
  call: Call | null;
  /** The running call's deadline (callTimeoutMs). */
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

export class ModelPool {
  readonly processes: number;
  readonly threads: number;
  /** Children replaced after dying. */
  restarts = 0;
  /** Resolves once every child is loaded and warm; rejects when the model cannot be loaded. */
  readonly whenReady: Promise<void>;
  readonly #modelPath: string;
  readonly #options: ModelPoolOptions;
  readonly #members = new Set<Member>();
  readonly #waiting: Call[] = [];
  #nextId = 1;
  #closing = false;
  #everReady = false;
  #settleReady!: { resolve: () => void; reject: (e: Error) => void };

  private constructor(modelPath: string, options: ModelPoolOptions) {
    this.#modelPath = modelPath;
    this.#options = options;
    this.processes = options.processes;
    this.threads = options.threads;
    this.whenReady = new Promise((resolve, reject) => (this.#settleReady = { resolve, reject }));
    // Nobody may be waiting on it yet; the rejection is still reported by whoever awaits it later.
    this.whenReady.catch(() => undefined);
  }

  /** Starts the children and returns at once; await whenReady to know they can score. */
  static start(modelPath: string, options: ModelPoolOptions): ModelPool {
    for (const k of ['processes', 'threads', 'size'] as const) {
      const v = options[k];
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`ModelPool: ${k} must be a positive integer, got ${v}`);
    }
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

  /** Warm children without a call: how many batches could start now. */
  get idle(): number {
    let n = 0;
    for (const m of this.#members) if (m.warm && !m.call) n++;
    return Math.max(0, n - this.#waiting.length);
  }

  /** Process ids of the children alive now. */
  pids(): number[] {
    return [...this.#members].map((m) => m.child.pid).filter((p): p is number => p !== undefined);
  }

  /** Runs one batch ([batch, 3, size, size] floats); resolves with [batch, bins] probabilities. */
  run(pixels: Float32Array, batch: number): Promise<Float32Array> {
    if (this.#closing) return Promise.reject(new Error('model pool: closed'));
    return new Promise((resolve, reject) => {
      this.#waiting.push({ id: this.#nextId++, batch, pixels, resolve, reject });
      this.#dispatch();
    });
  }

  /** Lets the calls in progress finish (up to timeoutMs), then stops every child. Queued calls fail. */
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
    for (const m of this.#members) {
      if (this.#waiting.length === 0) return;
      if (!m.warm || m.call || !m.child.connected) continue;
      const call = this.#waiting.shift()!;
      m.call = call;
      m.child.send({ type: 'run', id: call.id, batch: call.batch, size: this.#options.size, pixels: call.pixels } satisfies ToModel);
      const ms = this.#options.callTimeoutMs ?? 30_000;
      m.deadline = setTimeout(() => {
        m.stuckAfterMs = ms;
        process.stderr.write(`model pool: model process ${m.child.pid} did not answer a call within ${ms} ms; killing it\n`);
        m.child.kill('SIGKILL');
      }, ms);
      m.deadline.unref();
    }
  }

  #clearDeadline(m: Member): void {
    if (m.deadline) clearTimeout(m.deadline);
    m.deadline = null;
  }

  #spawn(): void {
    const { file, execArgv } = entryOf();
    const child = fork(file, [this.#modelPath, String(this.#options.threads), this.#options.inputName ?? 'pixel_values'], {
      execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const member: Member = { child, warm: false, call: null, deadline: null, stuckAfterMs: null };
    this.#members.add(member);
    const warmUp = (): void => {
      const s = this.#options.size;
      // One image through the session: the first call pays for allocation and kernel selection, not a client.
      member.call = {
        id: 0,
        batch: 1,
        pixels: new Float32Array(3 * s * s),
        resolve: () => {
          member.warm = true;
          this.#checkReady();
          this.#dispatch();
        },
        reject: (e) => this.#fail(member, new Error(`model pool: the warm-up call failed: ${e.message}`)),
      };
      child.send({ type: 'run', id: 0, batch: 1, size: s, pixels: member.call.pixels } satisfies ToModel);
    };
    child.on('message', (m: FromModel) => {
      if (m.type === 'ready') return warmUp();
      if (m.type === 'load-failed') return this.#fail(member, new Error(`model pool: cannot load ${this.#modelPath}: ${m.message}`));
      const call = member.call;
      if (!call || call.id !== m.id) return;
      this.#clearDeadline(member);
      member.call = null;
      if (m.type === 'result') call.resolve(m.distribution);
      else call.reject(new Error(`model call failed: ${m.message}`));
      this.#dispatch();
    });
    child.on('error', () => undefined); // 'exit' follows and does the accounting
    child.on('exit', (code, signal) => {
      this.#members.delete(member);
      this.#clearDeadline(member);
      const call = member.call;
      member.call = null;
      if (call) {
        const why = member.stuckAfterMs !== null ? `was killed after not answering within ${member.stuckAfterMs} ms` : `exited (${signal ?? `code ${code}`})`;
        call.reject(new Error(`model process ${child.pid} ${why} during a model call`));
      }
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
