// Out-of-process peers run after cskd's side of the same case, so the two
// never share the cores. Today: PyTorch on the CPU via bench/peer_torch.py.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TorchPeerSpec } from './types.js';

export interface PeerTiming {
  threads: number;
  ms: number;
}

export interface PeerResult {
  /** Label for reports, e.g. "pytorch 1.13.0 (cpu)". */
  peer: string;
  timings: PeerTiming[];
}

export interface PeerInfo {
  /** Null when the peer can run; otherwise why it is skipped. */
  skipped: string | null;
  /** Version and library details for the report. */
  details: string;
}

/** A peer in another process; in-process peers (InProcessPeerSpec) are timed by bench/run.ts itself. */
export interface PeerRunner {
  id: TorchPeerSpec['runner'];
  info: () => PeerInfo;
  measure: (spec: TorchPeerSpec, threads: readonly number[], minTime: number) => PeerResult;
}

const here = dirname(fileURLToPath(import.meta.url));
const PEER_TORCH = join(here, '..', 'peer_torch.py');
/** Debian's python3-torch lives under /usr/bin/python3 (the python3 on PATH may lack it). */
const PYTHON = process.env['CSKD_BENCH_PYTHON'] ?? '/usr/bin/python3';

interface TorchOutput {
  torch: string;
  blas: { library: string | null; kind: string; corename?: string; config?: string };
  results: { threads: number; ms: number; mean_ms: number; samples: number; inner: number }[];
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

function runTorch(spec: object, timeoutMs: number): TorchOutput {
  const r = spawnSync(PYTHON, [PEER_TORCH, '-'], {
    input: JSON.stringify(spec),
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 1 << 20,
  });
  if (r.error) throw new Error(`peer_torch: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`peer_torch exited ${r.status}: ${lastLine(r.stderr)}`);
  return JSON.parse(lastLine(r.stdout)) as TorchOutput;
}

let torchInfo: PeerInfo | null = null;
let torchLabel = 'pytorch';

export const torchPeer: PeerRunner = {
  id: 'torch',
  info(): PeerInfo {
    if (torchInfo) return torchInfo;
    const probe = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
    if (probe.error || probe.status !== 0) {
      const why = probe.error ? probe.error.message : lastLine(probe.stderr);
      torchInfo = {
        skipped: `PyTorch peer skipped: ${PYTHON} cannot import torch (${why}); install Debian's python3-torch (apt-get install -y python3-torch)`,
        details: '',
      };
      return torchInfo;
    }
    // A tiny run reports which BLAS torch loaded.
    let details = `torch ${probe.stdout.trim()}`;
    try {
      const out = runTorch({ workload: 'gemm', params: { m: 8, k: 8, n: 8 }, threads: [1], min_time: 0, min_samples: 1 }, 60_000);
      const b = out.blas;
      details = `torch ${out.torch}, BLAS: ${b.config ?? b.library ?? 'unknown'}${b.corename ? ` (core ${b.corename})` : ''}`;
      if (b.kind !== 'openblas') details += ` — ${b.kind}; GEMM-bound peer figures are not representative`;
      torchLabel = `pytorch ${out.torch} (cpu)`;
    } catch (e) {
      details += ` (BLAS probe failed: ${(e as Error).message})`;
      torchLabel = `pytorch ${probe.stdout.trim()} (cpu)`;
    }
    torchInfo = { skipped: null, details };
    return torchInfo;
  },
  measure(spec: TorchPeerSpec, threads: readonly number[], minTime: number): PeerResult {
    const out = runTorch({ workload: spec.workload, params: spec.params, threads, min_time: minTime, min_samples: 5, seed: 0 }, 600_000);
    return { peer: torchLabel, timings: out.results.map((r) => ({ threads: r.threads, ms: r.ms })) };
  },
};

export const peerRunners: Record<TorchPeerSpec['runner'], PeerRunner> = { torch: torchPeer };
