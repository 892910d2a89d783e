// The NCCL route of the communicator: device tensors' collectives on the
// communicator the main addon opens with libnccl (native/cuda/nccl.cu), while
// host memory and the collective headers stay on MPI (mpi.ts). The world is
// 'nccl' only when every rank has a device and loads NCCL; otherwise device
// tensors go through MPI by way of host copies, and the ranks say why.
//
// NCCL starts on the first device collective, on that tensor's device: rank 0's
// unique id is broadcast over MPI inside that numbered collective, then every
// rank joins. Each NCCL call runs under the MPI module's watchdog, as MPI's
// collectives do: one that never completes ends the process naming it, and the
// launcher ends the others.
import { type DeviceView, type MpiNative, native } from '../native.js';
import type { Tensor } from '../tensor/tensor.js';

const UNIQUE_ID_BYTES = 128;

/** Whether this rank can carry device tensors by NCCL: 0 no device, 1 a device but no NCCL, 2 both. */
function localState(): { state: 0 | 1 | 2; reason: string } {
  if (native.deviceCount() === 0) return { state: 0, reason: 'no CUDA device' };
  const info = native.ncclInfo();
  return info.found ? { state: 2, reason: '' } : { state: 1, reason: info.reason ?? 'NCCL does not load' };
}

export class NcclRoute {
  #device: number | null = null;

  constructor(
    readonly mpi: MpiNative,
    readonly rank: number,
    readonly size: number,
    readonly timeoutS: number,
  ) {}

  /**
   * The route when every rank can take it, else null (device tensors then go
   * by MPI). Every rank must call this at the same point: it gathers each
   * rank's state over MPI, outside the numbered collectives.
   */
  static negotiate(mpi: MpiNative, rank: number, size: number, timeoutS: number): NcclRoute | null {
    const mine = localState();
    const states = new Uint8Array(size);
    mpi.allgatherv(Uint8Array.of(mine.state), states, new Float64Array(size).fill(1), timeoutS, `rank ${rank}: startup: which ranks can use NCCL`);
    if (states.every((s) => s === 2)) return new NcclRoute(mpi, rank, size, timeoutS);
    if (states.some((s) => s > 0)) {
      if (mine.state === 1) process.stderr.write(`cskd: rank ${rank}: NCCL not used: ${mine.reason}\n`);
      if (rank === 0) {
        const lacking = [...states].flatMap((s, r) => (s === 2 ? [] : [`rank ${r} (${s === 0 ? 'no CUDA device' : 'NCCL does not load'})`]));
        process.stderr.write(`cskd: device tensors go through MPI by way of host copies: NCCL needs every rank, and ${lacking.join(', ')} cannot use it\n`);
      }
    }
    return null;
  }

  /** Sums a device tensor over the ranks, in place (after the header exchange agreed on it). */
  allReduce(x: Tensor, what: string): void {
    const view = this.#view(x, what);
    this.#guarded(`${what} (NCCL allReduce)`, () => native.ncclAllReduce!(view, x.size));
  }

  broadcast(x: Tensor, root: number, what: string): void {
    const view = this.#view(x, what);
    this.#guarded(`${what} (NCCL broadcast)`, () => native.ncclBroadcast!(view, x.size, root));
  }

  /** Ends the NCCL communicator: destroyed in order, or aborted by this rank alone. */
  stop(abort: boolean): void {
    if (this.#device === null) return;
    this.#device = null;
    native.ncclStop!(abort);
  }

  #view(x: Tensor, what: string): DeviceView {
    const view = x.storage as DeviceView;
    if (this.#device === null) this.#start(Number(view.device.slice('cuda:'.length)), what);
    return view;
  }

  #start(device: number, what: string): void {
    const id = this.rank === 0 ? native.ncclUniqueId!() : new Uint8Array(UNIQUE_ID_BYTES);
    this.mpi.broadcast(id, 0, this.timeoutS, `${what}: NCCL's unique id from rank 0`);
    this.#guarded(`${what}: starting NCCL on cuda:${device}`, () => native.ncclStart!(device, id, this.size, this.rank));
    this.#device = device;
  }

  #guarded(what: string, call: () => void): void {
    this.mpi.armWatchdog(this.timeoutS, what);
    try {
      call();
    } finally {
      this.mpi.disarmWatchdog();
    }
  }
}
