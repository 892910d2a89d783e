// The communicator the training code talks to: rank, size and four
// collectives over Tensors and small host arrays. One process without a
// launcher gets LocalCommunicator, whose collectives are the identity, so it
// behaves exactly as it did before distribution existed.
import type { Tensor } from '../tensor/tensor.js';

export type HostArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface Communicator {
  readonly rank: number;
  readonly size: number;
  /** 'nccl': device tensors travel by NCCL, the rest by MPI (docs/distributed.md). */
  readonly backend: 'local' | 'mpi' | 'nccl';
  /** Numbers the collectives that follow (a training step, an epoch); every rank must agree. */
  setStep(step: number): void;
  /** Sums x over the ranks, in place. `label` names the call site in mismatch messages. */
  allReduce(x: Tensor | HostArray, label: string): void;
  /** Sums plain numbers over the ranks (in float64). */
  allReduceNumbers(values: readonly number[], label: string): number[];
  /** Root's x into every rank's x, in place (same length everywhere). */
  broadcast(x: Tensor | HostArray, root: number, label: string): void;
  /** Root's JSON value on every rank (the others pass undefined). */
  broadcastJson<T>(value: T | undefined, root: number, label: string): T;
  /** Every rank's x, concatenated in rank order; ranks may pass different lengths. */
  allgather<T extends HostArray>(x: T, label: string): { data: T; counts: number[] };
  barrier(label: string): void;
  /** Ends the communicator (MPI_Finalize); a second call does nothing. */
  finalize(): void;
}

export class LocalCommunicator implements Communicator {
  readonly rank = 0;
  readonly size = 1;
  readonly backend = 'local' as const;
  setStep(_step: number): void {}
  allReduce(_x: Tensor | HostArray, _label: string): void {}
  allReduceNumbers(values: readonly number[], _label: string): number[] {
    return [...values];
  }
  broadcast(_x: Tensor | HostArray, root: number, _label: string): void {
    if (root !== 0) throw new RangeError(`broadcast: root ${root} is not a rank of 1`);
  }
  broadcastJson<T>(value: T | undefined, root: number, _label: string): T {
    if (root !== 0) throw new RangeError(`broadcastJson: root ${root} is not a rank of 1`);
    if (value === undefined) throw new TypeError('broadcastJson: the root passed no value');
    return value;
  }
  allgather<T extends HostArray>(x: T, _label: string): { data: T; counts: number[] } {
    return { data: x.slice() as T, counts: [x.length] };
  }
  barrier(_label: string): void {}
  finalize(): void {}
}
