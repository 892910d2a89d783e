// Data-parallel training: the CSKD phases on 2 ranks under mpirun against one
// process at the same global batch (the one-process run is the reference the
// ranks must reproduce), a resume of a 2-rank run, and a rank killed mid-phase.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadCheckpoint } from '../../src/model/checkpoint.js';
import { Model } from '../../src/model/model.js';
import { readEvents } from '../../src/run/events.js';
import { VIT_DEFAULTS } from '../../src/nn/vit.js';
import { Rng } from '../../src/util/rng.js';
import { tempDir } from '../data/images.js';
import { brightnessImage } from '../helpers/labeled_images.js';
import type { TinyData } from './fixtures/train_child.js';
import { mpirunMissing, runAlone, runRanks, secondsUntilGone } from './mpirun.js';

/** ‖a − b‖ / ‖b‖, in float64. */
function relative(a: readonly number[], b: readonly number[]): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d / n);
}

let data: { dir: string; cleanup: () => void };
let dataFile: string;
/** Training images that are not images: one corrupt file in the labeled set, met by whichever rank's slice holds it. */
const BAD = 1;

beforeAll(() => {
  data = tempDir('cskd-dist-train-');
  const rng = new Rng(5);
  const img = (name: string) => brightnessImage(data.dir, name, rng, 20);
  const train = Array.from({ length: 24 - BAD }, (_, i) => img(`t${i}`));
  const corrupt = join(data.dir, 'corrupt.png');
  writeFileSync(corrupt, Buffer.from('not a png at all'));
  train.splice(5, 0, { path: corrupt, score: 3 });
  const pool = Array.from({ length: 22 }, (_, i) => img(`u${i}`).path);
  const tiny: TinyData = {
    train,
    val: Array.from({ length: 8 }, (_, i) => img(`v${i}`)),
    test: Array.from({ length: 10 }, (_, i) => img(`s${i}`)),
    pool,
    embeddings: Object.fromEntries(pool.map((p) => [p, Array.from({ length: 8 }, () => rng.normal())])),
  };
  dataFile = join(data.dir, 'data.json');
  writeFileSync(dataFile, JSON.stringify(tiny));
});
afterAll(() => data.cleanup());

describe.skipIf(mpirunMissing !== null)(`data-parallel training, 2 ranks${mpirunMissing ? ` (skipped: ${mpirunMissing})` : ''}`, () => {
  it('align, fine-tune and distil on 2 ranks reproduce one process at the same global batch', async () => {
    const env = (run: string) => ({ DATA_FILE: dataFile, RUN_DIR: join(data.dir, run) });
    const [two, one] = [await runRanks(2, 'train_child.ts', ['phases'], env('run-2')), await runAlone('train_child.ts', ['phases'], env('run-1'))];
    expect(two.code, two.output).toBe(0);
    expect(one.code, one.output).toBe(0);
    const ref = one.results.get(0)!;
    expect(ref['size']).toBe(1);
    type Result = { firstGradients: Record<string, number[]>; params: Record<string, number[]>; test: Record<string, number>; best: { aligned: number; student: { epoch: number; metrics: Record<string, number> } }; steps: number[] };
    const r1 = ref as unknown as Result;
    for (const rank of [0, 1]) {
      const r = two.results.get(rank) as unknown as Result;
      if (process.env['SHOW_DIST_ERRORS']) console.log(rank, ['align', 'teacher', 'student'].map((p) => relative(r.firstGradients[p]!, r1.firstGradients[p]!)), ['aligned', 'teacher', 'student', 'studentLast'].map((m) => relative(r.params[m]!, r1.params[m]!)));
      for (const phase of ['align', 'teacher', 'student']) expect(relative(r.firstGradients[phase]!, r1.firstGradients[phase]!), `${phase} step-1 gradient, rank ${rank}`).toBeLessThan(1e-5);
      for (const model of ['aligned', 'teacher', 'student', 'studentLast']) expect(relative(r.params[model]!, r1.params[model]!), `${model} weights, rank ${rank}`).toBeLessThan(1e-4);
      for (const k of ['srcc', 'plcc', 'krcc', 'rmse', 'mae', 'accuracy', 'emd']) expect(Math.abs(r.test[k]! - r1.test[k]!), `test ${k}, rank ${rank}`).toBeLessThan(1e-4);
      // The same epochs chosen, by validation figures within 1e-4.
      expect(r.best.aligned).toBe(r1.best.aligned);
      expect(r.best.student.epoch).toBe(r1.best.student.epoch);
      for (const [k, v] of Object.entries(r1.best.student.metrics)) expect(Math.abs(r.best.student.metrics[k]! - v), `validation ${k}`).toBeLessThan(1e-4);
      expect(r.steps).toEqual(r1.steps);
    }
    // Rank 0 alone wrote the log; the dist event of every phase counts each
    // image it trained once: steps x batch, less the corrupt file once an epoch.
    const events = readEvents(join(data.dir, 'run-2', 'metrics.jsonl'));
    const dist = events.filter((e) => e['event'] === 'dist');
    expect(dist.map((e) => e['phase'])).toEqual(['align-student', 'teacher', 'student']);
    const sum = (e: Record<string, unknown>) => (e['imagesPerRank'] as number[]).reduce((a, b) => a + b, 0);
    expect(dist.every((e) => e['worldSize'] === 2 && e['backend'] === 'mpi' && (e['imagesPerRank'] as number[]).length === 2)).toBe(true);
    // Phase 1: 16 training images of the pool, batches of 8, 2 epochs.
    expect(sum(dist[0]!)).toBe(2 * 16);
    expect(sum(dist[1]!)).toBe(3 * (24 - BAD));
    expect(sum(dist[2]!)).toBe(2 * (24 - BAD));
    const single = readEvents(join(data.dir, 'run-1', 'metrics.jsonl'));
    expect(events.filter((e) => e['event'] === 'epoch').length).toBe(single.filter((e) => e['event'] === 'epoch').length);
    expect(readFileSync(join(data.dir, 'run-2', 'skipped.txt'), 'utf8')).toMatch(/corrupt\.png/);
    // Each rank's own figures are in ranks/.
    for (const rank of [0, 1]) {
      const own = readEvents(join(data.dir, 'run-2', 'ranks', `rank-${rank}.jsonl`)).filter((e) => e['event'] === 'rank-epoch');
      expect(own.length).toBe(2 + 3 + 2);
      expect(own.every((e) => e['rank'] === rank)).toBe(true);
    }
  }, 120_000);

  it('a SIGKILLed rank ends the job within 60 s; the last checkpoint loads, and resuming from it equals an uninterrupted run', async () => {
    const env = (run: string, killAt: number) => ({ DATA_FILE: dataFile, RUN_DIR: join(data.dir, run), KILL_AT: String(killAt) });
    const killed = await runRanks(2, 'train_child.ts', ['kill'], env('run-killed', 5));
    expect(killed.code).not.toBe(0);
    expect(killed.output).toMatch(/rank 1 .*(signal 9|Killed)/);
    expect(killed.pids).toHaveLength(2);
    expect(killed.seconds + (await secondsUntilGone(killed.pids, 60))).toBeLessThan(60);
    // The checkpoint of step 4 (every 2 steps; rank 1 died after step 5).
    const last = join(data.dir, 'run-killed', 'checkpoints', 'teacher-last.safetensors');
    expect(existsSync(last)).toBe(true);
    const probe = new Model({ encoder: { ...VIT_DEFAULTS, imgSize: 16, patchSize: 4, embedDim: 32, depth: 2, numHeads: 2 }, head: { kind: 'score', bins: 5 } });
    expect(loadCheckpoint(last, { params: probe.params }).step).toBe(4);

    const [resumed, straight] = [await runRanks(2, 'train_child.ts', ['kill'], env('run-killed', -1)), await runRanks(2, 'train_child.ts', ['kill'], env('run-straight', -1))];
    expect(resumed.code, resumed.output).toBe(0);
    expect(straight.code, straight.output).toBe(0);
    const log = readEvents(join(data.dir, 'run-killed', 'metrics.jsonl'));
    expect(log.some((e) => e['event'] === 'resume' && e['step'] === 4)).toBe(true);
    for (const rank of [0, 1]) {
      const a = resumed.results.get(rank)!['params'] as number[];
      const b = straight.results.get(rank)!['params'] as number[];
      expect(a.length).toBeGreaterThan(0);
      expect(Buffer.from(Float32Array.from(a).buffer).equals(Buffer.from(Float32Array.from(b).buffer))).toBe(true);
    }
  }, 120_000);
});
