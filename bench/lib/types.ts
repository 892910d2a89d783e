// The shapes every suite and the runner agree on. A suite is one file in
// bench/suites/ exporting a Suite, registered in bench/suites/index.ts.

/** A workload run by PyTorch in its own process (bench/peer_torch.py names the workloads). */
export interface TorchPeerSpec {
  runner: 'torch';
  /** The workload's name in peer_torch.py. */
  workload: string;
  params: Record<string, number | boolean | string>;
}

/**
 * A peer run in this process (e.g. onnxruntime-node), timed by the same
 * benchmark.js harness as cskd's side, after it.
 */
export interface InProcessPeerSpec {
  runner: 'inprocess';
  /** Label for reports, e.g. "onnxruntime-node 1.20 (cpu)". */
  label: string;
  /** Applies a thread count to the peer; without it the peer runs once, at its own default. */
  setThreads?: (threads: number) => void;
  prepare: () => Prepared | Promise<Prepared>;
}

export type PeerSpec = TorchPeerSpec | InProcessPeerSpec;

/** A case, prepared: fixed inputs allocated, ready to time. Give exactly one of run and runAsync. */
export interface Prepared {
  /** The timed call. Inputs are allocated once, outside it. */
  run?: () => void;
  /** The timed call, for asynchronous work (benchmark.js's deferred mode). */
  runAsync?: () => Promise<void>;
  /** Optional sanity check after timing: a message when the output is wrong, else null. */
  check?: () => string | null;
  /** Releases what prepare took (workers, sessions), after timing. */
  dispose?: () => void | Promise<void>;
}

export interface BenchCase {
  /** Stable label of the workload's shape (part of the JSON contract). */
  shape: string;
  /** Floating-point operations per call, for GFLOP/s and % of the FMA peak. */
  flops?: number;
  /** Minimum bytes a call must read and write, for GB/s. */
  bytes?: number;
  /** Thread counts this case is run at, where not the --threads list (intersected with it). */
  threads?: readonly number[];
  /** Allocates the inputs (fixed random data) and returns the timed call. */
  prepare: () => Prepared | Promise<Prepared>;
  /** The same workload for the peer; absent when there is none. */
  peer?: PeerSpec;
}

export interface Suite {
  /** Stable name (the JSON `name`, and what `npm run bench -- NAME` selects). */
  name: string;
  /** One line for BENCHMARKS.md. */
  title: string;
  /** What exactly is timed on each side. */
  description: string;
  /** Column header for the shape label. */
  shapeHeader: string;
  cases: () => BenchCase[];
}
