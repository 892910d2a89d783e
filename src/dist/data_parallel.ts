// The rules that make N ranks train as one process (docs/distributed.md):
// a global batch is cut into contiguous rank slices; each rank's loss
// gradient is scaled by local/global count, so the summed gradient is the
// single-process mean; global decisions (is every loss finite? how many
// images did each rank see?) are reduced, never taken alone.
import type { Device, Tensor } from '../tensor/tensor.js';
import type { Communicator } from './communicator.js';

/** Rows [start, end) of a global batch of `global` that `rank` of `size` takes (sizes differ by at most one). */
export function rankSlice(global: number, rank: number, size: number): { start: number; end: number } {
  if (!(Number.isInteger(global) && global >= 0)) throw new RangeError(`rankSlice: batch ${global} is not a count`);
  if (!(Number.isInteger(rank) && rank >= 0 && rank < size)) throw new RangeError(`rankSlice: rank ${rank} is not a rank of ${size}`);
  return { start: Math.floor((rank * global) / size), end: Math.floor(((rank + 1) * global) / size) };
}

/**
 * The factor on a rank's mean-reduced loss gradient: local / global. Its
 * per-sample weight becomes 1 / global, and the all-reduced sum over ranks is
 * the mean over the whole batch, whatever the split.
 */
export function gradScale(localCount: number, globalCount: number): number {
  return globalCount > 0 ? localCount / globalCount : 0;
}

/** The flat gradient buffer summed over the ranks: one all-reduce per step (the module buckets it). */
export function reduceGradients(comm: Communicator, grads: Tensor): void {
  if (comm.size > 1) comm.allReduce(grads, 'gradients');
}

/** True on every rank when every rank's flag is true (a rank with a non-finite loss must not throw alone). */
export function allRanks(comm: Communicator, ok: boolean, label: string): boolean {
  if (comm.size === 1) return ok;
  return comm.allReduceNumbers([ok ? 0 : 1], label)[0] === 0;
}

/** Each rank's count, in rank order (every rank gets the same list). */
export function perRank(comm: Communicator, count: number, label: string): number[] {
  if (comm.size === 1) return [count];
  return Array.from(comm.allgather(Float64Array.of(count), label).data);
}

/** The `dist` event rank 0 writes once per phase (the contract for tools). */
export interface DistEvent {
  event: 'dist';
  worldSize: number;
  backend: 'mpi' | 'nccl';
  imagesPerRank: number[];
}

/**
 * The backend is the world's (comm.backend): 'nccl' when device tensors travel
 * by NCCL. Pass the gradients' device, and CPU gradients in an NCCL world
 * (which go by MPI) say 'mpi'.
 */
export function distEvent(comm: Communicator, imagesPerRank: number[], gradientDevice?: Device): DistEvent {
  const backend = comm.backend === 'nccl' && gradientDevice !== 'cpu' ? 'nccl' : 'mpi';
  return { event: 'dist', worldSize: comm.size, backend, imagesPerRank };
}

/** Every rank's JSON value, in rank order (bad-file lists, messages: small things only). */
export function allgatherJson<T>(comm: Communicator, value: T, label: string): T[] {
  if (comm.size === 1) return [value];
  const { data, counts } = comm.allgather(new TextEncoder().encode(JSON.stringify(value)), label);
  const out: T[] = [];
  let off = 0;
  for (const n of counts) {
    out.push(JSON.parse(new TextDecoder().decode(data.subarray(off, off + n))) as T);
    off += n;
  }
  return out;
}

/** Global counts from each rank's local ones (summed; the identity in one process). */
export function globalCounts(comm: Communicator, local: readonly number[], label: string): number[] {
  return comm.size === 1 ? [...local] : comm.allReduceNumbers(local, label);
}
