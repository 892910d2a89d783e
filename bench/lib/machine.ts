// What the numbers were measured on.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { native } from '../../src/native.js';

export interface Machine {
  cpuModel: string;
  /** Logical CPUs the OS reports. */
  cores: number;
  memoryGiB: number;
  features: string;
  gemmKernel: string;
  node: string;
  openblasCoretype: string;
  cskd: string;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) return m[1].trim();
  } catch {
    // not Linux: fall through
  }
  return cpus()[0]?.model ?? 'unknown';
}

function gitRevision(): string {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${rev} (with uncommitted changes)` : rev;
  } catch {
    return 'unknown revision';
  }
}

export function describeMachine(version: string): Machine {
  const f = native.cpuFeatures();
  const features = (Object.keys(f) as (keyof typeof f)[]).filter((k) => f[k]).join(' ');
  return {
    cpuModel: cpuModel(),
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    features,
    gemmKernel: native.gemmKernel(),
    node: process.version,
    openblasCoretype: process.env['OPENBLAS_CORETYPE'] ?? '(unset)',
    cskd: `${version} @ ${gitRevision()}`,
  };
}

/** The best of a few short runs of the addon's AVX FMA loop, GFLOP/s. */
export function fmaPeak(threads: number, seconds = 0.25, tries = 3): number {
  let best = 0;
  for (let i = 0; i < tries; i++) best = Math.max(best, native.measureFmaPeak(seconds, threads));
  return best;
}
