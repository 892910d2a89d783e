// Results: rows, the JSON contract, and the generated part of BENCHMARKS.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Machine } from './machine.js';
import type { Suite } from './types.js';

/** One case at one thread count. */
export interface Row {
  name: string;
  shape: string;
  threads: number;
  ms: number;
  meanMs: number;
  rme: number;
  samples: number;
  flops: number | null;
  bytes: number | null;
  /** Measured FMA ceiling at this thread count (GFLOP/s). */
  peakGflops: number;
  peer: string | null;
  peerMs: number | null;
  /** The peer's fastest thread count and time over all measured. */
  peerBestMs: number | null;
  peerBestThreads: number | null;
  /** Null when the output check passed. */
  checkFailed: string | null;
  /** Why there is no peer figure, when there is none. */
  peerNote: string | null;
}

/** A case that did not produce rows, or a peer that could not run. */
export interface Problem {
  name: string;
  shape: string;
  message: string;
}

export interface RunInfo {
  machine: Machine;
  peerDetails: string;
  /** threads → GFLOP/s */
  fmaPeak: Map<number, number>;
  command: string;
  date: Date;
  wallSeconds: number;
  maxTime: number;
  /** 1-minute load average at the start and at the end of the run. */
  load: readonly [number, number];
}

/** The JSON contract: {name, shape, threads, ms, peer, peer_ms, ratio} plus context fields. */
export interface JsonEntry {
  name: string;
  shape: string;
  threads: number;
  ms: number;
  peer: string | null;
  peer_ms: number | null;
  /** peer_ms / ms at the same thread count (> 1: cskd faster). */
  ratio: number | null;
  peer_best_ms: number | null;
  peer_best_threads: number | null;
  /** peer_best_ms / ms: against the peer at its own best thread count. */
  ratio_best: number | null;
  gflops: number | null;
  peak_gflops: number;
  pct_peak: number | null;
  gbps: number | null;
  mean_ms: number;
  rme_pct: number;
  samples: number;
  check: string | null;
  /** Why peer_ms is null, when it is. */
  peer_note?: string;
}

const ratio = (peer: number | null, ms: number): number | null => (peer === null ? null : peer / ms);
const gflops = (r: Row): number | null => (r.flops === null ? null : r.flops / (r.ms * 1e6));
const gbps = (r: Row): number | null => (r.bytes === null ? null : r.bytes / (r.ms * 1e6));
const round = (x: number | null, digits = 4): number | null => (x === null ? null : Number(x.toPrecision(digits)));

export function toJson(rows: readonly Row[]): JsonEntry[] {
  return rows.map((r) => {
    const g = gflops(r);
    return {
      name: r.name,
      shape: r.shape,
      threads: r.threads,
      ms: round(r.ms) as number,
      peer: r.peer,
      peer_ms: round(r.peerMs),
      ratio: round(ratio(r.peerMs, r.ms), 3),
      peer_best_ms: round(r.peerBestMs),
      peer_best_threads: r.peerBestThreads,
      ratio_best: round(ratio(r.peerBestMs, r.ms), 3),
      gflops: round(g),
      peak_gflops: round(r.peakGflops) as number,
      pct_peak: g === null ? null : round((100 * g) / r.peakGflops, 3),
      gbps: round(gbps(r)),
      mean_ms: round(r.meanMs) as number,
      rme_pct: round(r.rme, 2) as number,
      samples: r.samples,
      check: r.checkFailed,
      ...(r.peerMs === null && r.peerNote !== null ? { peer_note: r.peerNote } : {}),
    };
  });
}

function fmtMs(ms: number | null): string {
  if (ms === null) return '—';
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toPrecision(3);
}

function fmtRatio(x: number | null): string {
  return x === null ? '—' : `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`;
}

/** The tables for one suite. */
export function suiteMarkdown(suite: Suite, rows: readonly Row[], problems: readonly Problem[]): string {
  const mine = rows.filter((r) => r.name === suite.name);
  const out: string[] = [`### \`${suite.name}\` — ${suite.title}`, '', suite.description, ''];
  const peers = [...new Set(mine.map((r) => r.peer).filter((p) => p !== null))];
  const notes = [...new Set(mine.map((r) => r.peerNote).filter((p) => p !== null))];
  if (mine.length > 0) out.push(`Peer: ${[...peers, ...notes].join('; ') || 'none'}.`, '');
  if (mine.length > 0) {
    const hasFlops = mine.some((r) => r.flops !== null);
    const hasBytes = mine.some((r) => r.bytes !== null);
    const head = [suite.shapeHeader, 'threads', 'cskd ms', '± %'];
    if (hasFlops) head.push('GFLOP/s', '% of FMA peak (GFLOP/s)');
    if (hasBytes) head.push('GB/s');
    head.push('peer ms', 'ratio (same threads)', 'ratio vs peer best');
    out.push(`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`);
    for (const r of mine) {
      const cells = [r.shape, String(r.threads), fmtMs(r.ms) + (r.checkFailed ? ' ⚠' : ''), r.rme.toFixed(1)];
      const g = gflops(r);
      if (hasFlops) cells.push(g === null ? '—' : g.toFixed(1), g === null ? '—' : `${((100 * g) / r.peakGflops).toFixed(1)}% (${r.peakGflops.toFixed(0)})`);
      if (hasBytes) cells.push(r.bytes === null ? '—' : (gbps(r) as number).toFixed(1));
      const at = r.peerBestThreads === null ? 'its default threads' : String(r.peerBestThreads);
      const best = r.peerBestMs === null ? '—' : `${fmtRatio(ratio(r.peerBestMs, r.ms))} (${fmtMs(r.peerBestMs)} ms at ${at})`;
      cells.push(fmtMs(r.peerMs), fmtRatio(ratio(r.peerMs, r.ms)), best);
      out.push(`| ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  for (const p of problems.filter((x) => x.name === suite.name)) out.push(`- ${p.shape ? `${p.shape}: ` : ''}${p.message}`);
  for (const r of mine.filter((x) => x.checkFailed)) out.push(`- ⚠ ${r.shape} at ${r.threads} thread(s): output check failed: ${r.checkFailed}`);
  if (out[out.length - 1] !== '') out.push('');
  return out.join('\n');
}

export function generatedMarkdown(info: RunInfo, suites: readonly Suite[], rows: readonly Row[], problems: readonly Problem[]): string {
  const m = info.machine;
  const peaks = [...info.fmaPeak].map(([t, g]) => `${g.toFixed(0)} at ${t} thread${t === 1 ? '' : 's'}`).join(', ');
  const minutes = Math.floor(info.wallSeconds / 60);
  const secs = Math.round(info.wallSeconds - 60 * minutes);
  const lines = [
    '## Results',
    '',
    `Generated ${info.date.toISOString()} by \`${info.command}\` (wall time ${minutes}m${String(secs).padStart(2, '0')}s).`,
    '',
    '| | |',
    '|---|---|',
    `| CPU | ${m.cpuModel}, ${m.cores} logical cores, ${m.memoryGiB} GiB |`,
    `| CPU features | ${m.features} |`,
    `| FMA peak (measured, GFLOP/s) | ${peaks} (best of the measurements taken before each GEMM-bound case) |`,
    `| cskd | ${m.cskd}; GEMM kernel \`${m.gemmKernel}\`; Node ${m.node} |`,
    `| Peer | ${info.peerDetails} |`,
    `| OPENBLAS_CORETYPE | ${m.openblasCoretype} |`,
    `| Load average (1 min) | ${info.load[0].toFixed(2)} at the start, ${info.load[1].toFixed(2)} at the end${Math.max(...info.load) > 0.5 * m.cores ? ' — the machine was busy with other work: expect noise' : ''} |`,
    `| Timing | cskd: benchmark.js (maxTime ${info.maxTime} s per thread count) after warm-up, median of its samples; peer: same-length run in its own process after cskd's, median of samples. Thread counts set with \`native.setNumThreads(n)\` and \`torch.set_num_threads(n)\` (+ OpenBLAS's own pool). |`,
    '',
    'ratio = peer ms / cskd ms, so > 1 means cskd is faster. "vs peer best" compares with the peer at whichever thread count it was fastest.',
    '',
  ];
  for (const s of suites) lines.push(suiteMarkdown(s, rows, problems));
  for (const p of problems.filter((x) => x.name === '')) lines.push(`- ${p.message}`);
  return lines.join('\n').trimEnd() + '\n';
}

export const MARKER = '<!-- Everything below this line is generated by `npm run bench` (bench/run.ts) and rewritten on each run; edit above it. -->';

const DEFAULT_HEAD = `# Benchmarks

Side-by-side timings of cskd's production kernels and PyTorch on the CPU, in
the same run on the same machine (see docs/design.md, "Performance frame").

- \`npm run bench\` runs every suite and rewrites the part of this file below
  the marker; \`npm run bench -- --json FILE [names…]\` writes the same results
  as a JSON array of \`{name, shape, threads, ms, peer, peer_ms, ratio, …}\`
  (ratio = peer_ms / ms, so > 1 means cskd is faster) and leaves this file alone.
  \`npm run bench -- --help\` lists the options (\`--threads\`, \`--max-time\`,
  \`--quick\`, \`--no-peer\`, \`--md\`).
- One suite per file in \`bench/suites/\`, registered in
  \`bench/suites/index.ts\`; names are stable. cskd's side is timed with
  benchmark.js through the TS API (the production kernels, inputs allocated
  once, fixed random data). The PyTorch side is \`bench/peer_torch.py\`, run by
  \`/usr/bin/python3\` (Debian's python3-torch) in its own process after
  cskd's side of the same case, so the two never share the cores.
- "n threads" means n cores for both: \`native.setNumThreads(n)\` for cskd;
  \`torch.set_num_threads(n)\` and, where torch's BLAS is OpenBLAS,
  \`openblas_set_num_threads(n)\` for PyTorch (OpenBLAS's pthread pool ignores
  torch's setting and would otherwise use every core at "1 thread").
- GEMM figures carry the machine's ceiling: the FMA peak measured by the addon
  at the same thread count. Figures from a machine that was busy with other
  work are noisy; the ± column is benchmark.js's relative margin of error.
`;

/** Rewrites the part of `file` below the marker, keeping the hand-written text above it. */
export function writeMarkdown(file: string, generated: string): void {
  let head = DEFAULT_HEAD;
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8');
    const at = text.indexOf(MARKER);
    head = at >= 0 ? text.slice(0, at).trimEnd() + '\n' : text.trimEnd() + '\n';
  }
  writeFileSync(file, `${head}\n${MARKER}\n\n${generated}`);
}
