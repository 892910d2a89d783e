// `npm run bench [-- options] [names…]`: times cskd's production kernels with
// benchmark.js and the same workloads in PyTorch, at each thread count, and
// writes BENCHMARKS.md (or, with --json FILE, a JSON array).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { native } from '../src/native.js';
import { describeMachine, fmaPeak } from './lib/machine.js';
import { peerRunners, type PeerResult } from './lib/peers.js';
import { generatedMarkdown, suiteMarkdown, toJson, writeMarkdown, type Problem, type Row } from './lib/report.js';
import { timePrepared } from './lib/timing.js';
import type { BenchCase, InProcessPeerSpec, PeerSpec, Suite } from './lib/types.js';
import { suites } from './suites/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const USAGE = `usage: npm run bench -- [options] [names…]

  names            suites to run (default: all): ${suites.map((s) => s.name).join(', ')}
  --json FILE      write the results as a JSON array to FILE (BENCHMARKS.md is left alone)
  --md FILE        write the Markdown report to FILE (default: BENCHMARKS.md when
                   neither --json nor names are given)
  --threads LIST   thread counts, comma-separated (default 1,2)
  --max-time S     seconds of sampling per case and thread count, each side (default 1.5)
  --quick          short runs for a smoke test (--max-time 0.2)
  --no-peer        skip PyTorch
  -h, --help       this text`;

interface Options {
  json: string | null;
  md: string | null;
  threads: number[];
  maxTime: number;
  peer: boolean;
  selected: Suite[];
}

function parse(argv: string[]): Options {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'string' },
      md: { type: 'string' },
      threads: { type: 'string' },
      'max-time': { type: 'string' },
      quick: { type: 'boolean' },
      'no-peer': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const unknown = positionals.filter((n) => !suites.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')}; known: ${suites.map((s) => s.name).join(', ')}`);
  const threads = (values.threads ?? '1,2').split(',').map(Number);
  if (threads.some((t) => !Number.isInteger(t) || t < 1)) throw new Error(`--threads: expected positive integers, got ${values.threads}`);
  const maxTime = values.quick ? 0.2 : Number(values['max-time'] ?? 1.5);
  if (!(maxTime > 0)) throw new Error(`--max-time: expected a positive number of seconds, got ${values['max-time']}`);
  const json = values.json ?? null;
  const md = values.md ?? (json === null && positionals.length === 0 ? join(root, 'BENCHMARKS.md') : null);
  const selected = positionals.length === 0 ? [...suites] : suites.filter((s) => positionals.includes(s.name));
  return { json, md, threads, maxTime, peer: !values['no-peer'], selected };
}

function fmt(ms: number): string {
  return ms >= 10 ? ms.toFixed(1) : ms.toPrecision(3);
}

function timingOptions(o: Options) {
  return { maxTime: o.maxTime, minSamples: 5, warmup: Math.min(0.5, o.maxTime / 3) };
}

/** An in-process peer, timed like cskd's side; one timing per thread count it can be set to. */
async function measureInProcess(spec: InProcessPeerSpec, name: string, threads: readonly number[], o: Options): Promise<PeerResult> {
  const prepared = await spec.prepare();
  try {
    const timings = [];
    for (const t of spec.setThreads ? threads : [0]) {
      spec.setThreads?.(t);
      const r = await timePrepared(`${name} peer t${t}`, prepared, timingOptions(o));
      timings.push({ threads: t, ms: r.ms });
    }
    return { peer: spec.label, timings };
  } finally {
    await prepared.dispose?.();
  }
}

async function measurePeer(spec: PeerSpec, name: string, threads: readonly number[], o: Options): Promise<PeerResult> {
  if (spec.runner === 'inprocess') return measureInProcess(spec, name, threads, o);
  return peerRunners[spec.runner].measure(spec, threads, o.maxTime);
}

/** cskd's side of one case at every thread count, then the peer's. */
async function runCase(
  suite: Suite, c: BenchCase, o: Options, peaks: Map<number, number>, peerSkip: string | null, rows: Row[], problems: Problem[],
): Promise<void> {
  const threads = c.threads ? o.threads.filter((t) => c.threads?.includes(t)) : o.threads;
  if (threads.length === 0) throw new Error(`runs only at ${c.threads?.join(', ')} threads`);
  // The FMA ceiling is a property of the machine, but a busy machine measures it low:
  // re-measure before each case that reports GFLOP/s and keep the best seen.
  if (c.flops !== undefined) for (const t of threads) peaks.set(t, Math.max(peaks.get(t) ?? 0, fmaPeak(t, 0.2, 2)));
  const label = `${suite.name} ${c.shape}`;
  const mine: Row[] = [];
  const prepared = await c.prepare();
  try {
    for (const t of threads) {
      native.setNumThreads(t);
      const timing = await timePrepared(`${label} t${t}`, prepared, timingOptions(o));
      const checkFailed = prepared.check ? prepared.check() : null;
      mine.push({
        name: suite.name, shape: c.shape, threads: t,
        ms: timing.ms, meanMs: timing.meanMs, rme: timing.rme, samples: timing.samples,
        flops: c.flops ?? null, bytes: c.bytes ?? null, peakGflops: peaks.get(t) ?? NaN,
        peer: null, peerMs: null, peerBestMs: null, peerBestThreads: null, checkFailed,
        peerNote: !c.peer ? 'no peer for this workload' : !o.peer ? 'peer skipped (--no-peer)' : peerSkip,
      });
      const extra = c.flops ? `  ${(c.flops / (timing.ms * 1e6)).toFixed(1)} GFLOP/s of ${(peaks.get(t) ?? NaN).toFixed(0)}` : '';
      console.log(`  cskd    ${label} threads=${t}: ${fmt(timing.ms)} ms (±${timing.rme.toFixed(1)}%, ${timing.samples} samples)${extra}${checkFailed ? `  CHECK FAILED: ${checkFailed}` : ''}`);
    }
  } finally {
    await prepared.dispose?.();
  }
  if (c.peer && o.peer && peerSkip === null) {
    let result: PeerResult | null = null;
    try {
      result = await measurePeer(c.peer, label, threads, o);
    } catch (e) {
      for (const r of mine) r.peerNote = `peer failed: ${(e as Error).message}`;
      problems.push({ name: suite.name, shape: c.shape, message: `peer failed: ${(e as Error).message}` });
      console.log(`  peer    ${label}: failed: ${(e as Error).message}`);
    }
    if (result && result.timings.length > 0) {
      const best = result.timings.reduce((a, b) => (b.ms < a.ms ? b : a));
      for (const p of result.timings) console.log(`  peer    ${label} threads=${p.threads || 'default'}: ${fmt(p.ms)} ms`);
      // A peer timed once at its own default thread count (threads 0) stands beside every row.
      const only = result.timings.length === 1 && best.threads === 0 ? best : null;
      for (const r of mine) {
        r.peer = result.peer;
        r.peerMs = (only ?? result.timings.find((p) => p.threads === r.threads))?.ms ?? null;
        r.peerNote = r.peerMs === null ? `peer not measured at ${r.threads} threads` : only ? 'peer at its default thread count' : null;
        r.peerBestMs = best.ms;
        r.peerBestThreads = best.threads === 0 ? null : best.threads;
      }
    }
  }
  rows.push(...mine);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = parse(argv);
  const started = performance.now();
  const loadBefore = loadavg()[0] ?? 0;
  const date = new Date();
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const machine = describeMachine(version);
  const threadsBefore = native.numThreads();

  const peaks = new Map<number, number>();
  for (const t of o.threads) peaks.set(t, fmaPeak(t));
  console.log(`${machine.cpuModel}, ${machine.cores} cores; FMA peak (first measure) ${[...peaks].map(([t, g]) => `${g.toFixed(0)} GFLOP/s at ${t}t`).join(', ')}; GEMM kernel ${machine.gemmKernel}`);

  const needed = new Set(o.selected.flatMap((s) => s.cases().map((c) => c.peer?.runner)).filter((r) => r === 'torch'));
  const problems: Problem[] = [];
  const skip = new Map<string, string | null>();
  const peerDetails: string[] = [];
  if (!o.peer) peerDetails.push('skipped (--no-peer)');
  else {
    for (const id of needed) {
      const info = peerRunners[id].info();
      skip.set(id, info.skipped);
      peerDetails.push(info.skipped ?? info.details);
      if (info.skipped) {
        console.log(info.skipped);
        problems.push({ name: '', shape: '', message: info.skipped });
      } else console.log(`peer: ${info.details}`);
    }
  }

  for (const label of new Set(o.selected.flatMap((s) => s.cases().flatMap((c) => (c.peer?.runner === 'inprocess' ? [c.peer.label] : []))))) {
    peerDetails.push(o.peer ? label : `${label} skipped (--no-peer)`);
  }

  const rows: Row[] = [];
  for (const suite of o.selected) {
    console.log(`${suite.name}: ${suite.title}`);
    for (const c of suite.cases()) {
      try {
        await runCase(suite, c, o, peaks, c.peer ? (skip.get(c.peer.runner) ?? null) : null, rows, problems);
      } catch (e) {
        const message = `did not run: ${(e as Error).message}`;
        problems.push({ name: suite.name, shape: c.shape, message });
        console.log(`  ${suite.name} ${c.shape}: ${message}`);
      }
    }
  }
  native.setNumThreads(threadsBefore);
  for (const r of rows) r.peakGflops = peaks.get(r.threads) ?? r.peakGflops;

  const wallSeconds = (performance.now() - started) / 1e3;
  const command = `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
  const info = {
    machine, peerDetails: peerDetails.join('; ') || 'none needed', fmaPeak: peaks, command, date, wallSeconds, maxTime: o.maxTime,
    load: [loadBefore, loadavg()[0] ?? 0] as const,
  };
  if (o.json !== null) {
    writeFileSync(o.json, JSON.stringify(toJson(rows), null, 2) + '\n');
    console.log(`wrote ${o.json} (${rows.length} entries)`);
  }
  if (o.md !== null) {
    writeMarkdown(o.md, generatedMarkdown(info, o.selected, rows, problems));
    console.log(`wrote ${o.md}`);
  }
  if (o.json === null && o.md === null) {
    console.log('');
    for (const s of o.selected) console.log(suiteMarkdown(s, rows, problems));
  }
  console.log(`done in ${wallSeconds.toFixed(0)} s`);
  if (problems.some((p) => p.message.startsWith('did not run')) || rows.some((r) => r.checkFailed)) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 2;
});
