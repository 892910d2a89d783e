// A run directory: everything one training run writes, at paths this file
// alone spells out.
//   config.json        the resolved config
//   metrics.jsonl      the event log (src/run/events.ts)
//   skipped.txt        every bad input file met, with what was wrong
//   checkpoints/       <phase>-last.safetensors, <phase>-best.safetensors
//   models/            final models: aligned-{teacher,student}, teacher, student (+ student.onnx)
//   predictions/       <model>.json: per-image test predictions kept for the report
//   report.html        the run report
//   ranks/             rank-<r>.jsonl: each rank's own figures when several train (docs/distributed.md)
// A demo directory holds one run directory per seed (seed-<n>/) and its own log.
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import type { Communicator } from '../dist/communicator.js';
import { world } from '../dist/world.js';
import { type RunEvent, appendEvent, readEvents } from './events.js';

/** Every phase a run trains, each with its own checkpoints. */
export type PhaseName = 'align-teacher' | 'align-student' | 'teacher' | 'student' | 'student-no-align' | 'student-no-unlabeled' | 'clip-finetune';

/** The models a run keeps in models/. */
export type ModelName = 'aligned-teacher' | 'aligned-student' | 'teacher' | 'student';

export const METRICS_FILE = 'metrics.jsonl';
export const CONFIG_FILE = 'config.json';
export const REPORT_FILE = 'report.html';

export class RunDir {
  readonly path: string;
  /**
   * The ranks training into this directory (one process: size 1). Rank 0
   * alone writes the shared files (config, metrics.jsonl, skipped.txt and,
   * through its callers, checkpoints, models and reports); every rank writes
   * its own log in ranks/. A filesystem every rank sees is assumed.
   */
  readonly comm: Communicator;
  readonly #skipped = new Set<string>();

  constructor(path: string, comm: Communicator = world()) {
    this.path = resolve(path);
    this.comm = comm;
    mkdirSync(join(this.path, 'checkpoints'), { recursive: true });
    mkdirSync(join(this.path, 'models'), { recursive: true });
    const skipped = join(this.path, 'skipped.txt');
    if (existsSync(skipped)) for (const line of readFileSync(skipped, 'utf8').split('\n')) if (line) this.#skipped.add(line);
  }

  /** A new directory under `root` named `<prefix>-<UTC timestamp>`. */
  static create(root: string, prefix = 'run', comm: Communicator = world()): RunDir {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z');
    const mine = join(root, `${prefix}-${stamp}`);
    // The ranks' clocks differ: rank 0 names the directory.
    return new RunDir(comm.size > 1 ? comm.broadcastJson(comm.rank === 0 ? mine : undefined, 0, 'run directory') : mine, comm);
  }

  /** Whether this process writes the shared files (rank 0). */
  get writer(): boolean {
    return this.comm.rank === 0;
  }

  file(...parts: string[]): string {
    return join(this.path, ...parts);
  }

  checkpoint(phase: PhaseName, which: 'last' | 'best'): string {
    return checkpointPath(this.path, phase, which);
  }

  model(name: ModelName, format: 'safetensors' | 'onnx' = 'safetensors'): string {
    return modelPath(this.path, name, format);
  }

  /** The run directory of one seed inside a demo directory. */
  seed(n: number): RunDir {
    return new RunDir(join(this.path, `seed-${n}`), this.comm);
  }

  writeConfig(config: unknown): void {
    if (!this.writer) return;
    writeFileSync(this.file(CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
  }

  /** Appends one event to metrics.jsonl (with a timestamp); rank 0's alone, the others' holding the same figures. */
  log(event: RunEvent): void {
    if (this.writer) appendEvent(this.file(METRICS_FILE), event);
  }

  /** Appends one event to this rank's own log, ranks/rank-<r>.jsonl (only when several ranks train). */
  rankLog(event: RunEvent): void {
    if (this.comm.size === 1) return;
    mkdirSync(this.file('ranks'), { recursive: true });
    appendEvent(this.file('ranks', `rank-${this.comm.rank}.jsonl`), { rank: this.comm.rank, ...event });
  }

  /** Every event logged so far. */
  events(): RunEvent[] {
    return readEvents(this.file(METRICS_FILE));
  }

  /** Records bad input files once each (rank 0 writes them; callers pass every rank's); returns how many were new. */
  recordSkipped(entries: Iterable<[string, string]>): number {
    let added = 0;
    for (const [path, why] of entries) {
      const line = `${path}\t${why}`;
      if (this.#skipped.has(line)) continue;
      this.#skipped.add(line);
      if (this.writer) appendFileSync(this.file('skipped.txt'), `${line}\n`);
      added++;
    }
    return added;
  }

  get skippedCount(): number {
    return this.#skipped.size;
  }
}

// Path functions for readers (the report) that must not create anything.

export function checkpointPath(runPath: string, phase: PhaseName, which: 'last' | 'best'): string {
  return join(runPath, 'checkpoints', `${phase}-${which}.safetensors`);
}

export function modelPath(runPath: string, name: ModelName, format: 'safetensors' | 'onnx' = 'safetensors'): string {
  return join(runPath, 'models', `${name}.${format}`);
}

export function predictionsDir(runPath: string): string {
  return join(runPath, 'predictions');
}

export function metricsFile(runPath: string): string {
  return join(runPath, METRICS_FILE);
}

/** seed-* run directories of a demo directory, in seed order. */
export function seedRunPaths(demoPath: string): { seed: number; path: string }[] {
  return readdirSync(demoPath, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^seed-\d+$/.test(e.name) && existsSync(join(demoPath, e.name, METRICS_FILE)))
    .map((e) => ({ seed: Number(e.name.slice(5)), path: join(demoPath, e.name) }))
    .sort((a, b) => a.seed - b.seed);
}
