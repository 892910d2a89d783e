// The communicator over MPI (native/mpi, loaded through src/native.ts). Each
// collective is two calls into the module: the header exchange (every rank
// learns what every other is calling, and who has not arrived), then the MPI
// collective itself under the watchdog. Device tensors take the NCCL route
// when the world has one (nccl.ts), else a host copy through MPI. See
// docs/distributed.md.
import type { MpiNative } from '../native.js';
import { Tensor } from '../tensor/tensor.js';
import type { Communicator, HostArray } from './communicator.js';
import { DistError } from './errors.js';
import { type ElementType, encodeHeader, type Header, HEADER_LENGTH, headerMismatch, countsOf, type Op, type Place } from './header.js';
import type { NcclRoute } from './nccl.js';

function elementType(x: HostArray): ElementType {
  if (x instanceof Float32Array) return 'float32';
  if (x instanceof Float64Array) return 'float64';
  if (x instanceof Int32Array) return 'int32';
  if (x instanceof Uint8Array) return 'uint8';
  throw new TypeError('collective: expected a Float32Array, Float64Array, Int32Array or Uint8Array');
}

function isHostArray(x: unknown): x is HostArray {
  return x instanceof Float32Array || x instanceof Float64Array || x instanceof Int32Array || x instanceof Uint8Array;
}

export interface MpiOptions {
  /** Seconds a collective may wait for the other ranks (CSKD_DIST_TIMEOUT_S). */
  timeoutS: number;
  /** Elements per MPI_Allreduce call of a large buffer (the gradient's buckets). */
  bucketElements: number;
}

export class MpiCommunicator implements Communicator {
  readonly backend: 'mpi' | 'nccl';
  readonly rank: number;
  readonly size: number;
  /** Set once a collective failed: the job is then only fit to end. */
  failure: DistError | null = null;
  #seq = 0;
  #step = 0;
  #finalized = false;
  readonly #table: Float64Array;

  constructor(
    readonly mpi: MpiNative,
    world: { rank: number; size: number },
    readonly options: MpiOptions,
    readonly nccl: NcclRoute | null = null,
  ) {
    this.backend = nccl ? 'nccl' : 'mpi';
    this.rank = world.rank;
    this.size = world.size;
    this.#table = new Float64Array(HEADER_LENGTH * world.size);
  }

  setStep(step: number): void {
    if (!Number.isSafeInteger(step)) throw new RangeError(`setStep: ${step} is not an integer`);
    this.#step = step;
  }

  /** Exchanges headers; throws (on every rank alike) unless all ranks call this same collective. */
  #enter(op: Op, label: string, dtype: ElementType, count: number, root: number, place: Place = 'host'): { what: string; table: Float64Array } {
    if (this.#finalized) throw new DistError(`rank ${this.rank}: ${op} '${label}' after finalize`, false);
    if (this.failure) throw this.failure;
    const header: Header = { seq: this.#seq++, step: this.#step, op, dtype, count, root, label, place };
    const what = `rank ${this.rank}: collective #${header.seq} ${op} '${label}' at step ${header.step}`;
    const missing = this.mpi.exchangeHeaders(encodeHeader(header), this.#table, this.options.timeoutS);
    if (missing.length > 0) {
      const who = missing.map((r) => `rank ${r}`).join(', ');
      this.failure = new DistError(`${what} waited ${this.options.timeoutS} s for ${who}, which did not reach it (died, hung, or running other code)`, false);
      throw this.failure;
    }
    const mismatch = headerMismatch(this.#table, this.size, header);
    if (mismatch) {
      this.failure = new DistError(`rank ${this.rank}: ${mismatch}`, true);
      throw this.failure;
    }
    return { what, table: this.#table };
  }

  allReduce(x: Tensor | HostArray, label: string): void {
    const sum = (h: HostArray, what: string): void => this.mpi.allReduceSum(h, this.options.bucketElements, this.options.timeoutS, what);
    if (isHostArray(x) || x.device === 'cpu') {
      const h = isHostArray(x) ? x : x.data;
      return sum(h, this.#enter('allReduce', label, elementType(h), h.length, -1).what);
    }
    const { what } = this.#enter('allReduce', label, 'float32', x.size, -1, 'device');
    if (this.nccl) return this.#viaNccl(what, (n) => n.allReduce(x, what));
    const host = x.copyToHost();
    sum(host, what);
    writeBack(x, host);
  }

  allReduceNumbers(values: readonly number[], label: string): number[] {
    const buf = Float64Array.from(values);
    this.allReduce(buf, label);
    return Array.from(buf);
  }

  broadcast(x: Tensor | HostArray, root: number, label: string): void {
    this.#checkRoot(root, 'broadcast');
    const send = (h: HostArray, what: string): void => this.mpi.broadcast(h, root, this.options.timeoutS, what);
    if (isHostArray(x) || x.device === 'cpu') {
      const h = isHostArray(x) ? x : x.data;
      return send(h, this.#enter('broadcast', label, elementType(h), h.length, root).what);
    }
    const { what } = this.#enter('broadcast', label, 'float32', x.size, root, 'device');
    if (this.nccl) return this.#viaNccl(what, (n) => n.broadcast(x, root, what));
    const host = x.copyToHost();
    send(host, what);
    writeBack(x, host);
  }

  /** A failed NCCL call leaves the other ranks in the collective: the job must be aborted. */
  #viaNccl(what: string, call: (nccl: NcclRoute) => void): void {
    try {
      call(this.nccl!);
    } catch (e) {
      this.failure = new DistError(`${what}: ${(e as Error).message}`, false);
      throw this.failure;
    }
  }

  broadcastJson<T>(value: T | undefined, root: number, label: string): T {
    this.#checkRoot(root, 'broadcastJson');
    const mine = this.rank === root;
    if (mine && value === undefined) throw new TypeError(`broadcastJson '${label}': the root passed no value`);
    const bytes = mine ? new TextEncoder().encode(JSON.stringify(value)) : new Uint8Array(0);
    // Receivers take the root's length from the header table (count -1: any).
    const { what, table } = this.#enter('broadcast', label, 'uint8', mine ? bytes.length : -1, root);
    const buf = mine ? bytes : new Uint8Array(countsOf(table, this.size)[root]!);
    this.mpi.broadcast(buf, root, this.options.timeoutS, what);
    return JSON.parse(new TextDecoder().decode(buf)) as T;
  }

  allgather<T extends HostArray>(x: T, label: string): { data: T; counts: number[] } {
    const { what, table } = this.#enter('allgather', label, elementType(x), x.length, -1);
    const counts = countsOf(table, this.size);
    const total = counts.reduce((a, b) => a + b, 0);
    const data = new (x.constructor as new (n: number) => T)(total);
    this.mpi.allgatherv(x, data, Float64Array.from(counts), this.options.timeoutS, what);
    return { data, counts };
  }

  /** Every rank has sent its header to every other and received theirs: that is the barrier. */
  barrier(label: string): void {
    this.#enter('barrier', label, 'none', 0, -1);
  }

  finalize(): void {
    if (this.#finalized) return;
    this.#finalized = true;
    this.nccl?.stop(false);
    this.mpi.finalize();
  }

  /** Takes the whole job down (MPI_Abort); the launcher reports this rank. */
  abort(code: number): void {
    this.mpi.abort(code);
  }

  #checkRoot(root: number, fn: string): void {
    if (!(Number.isInteger(root) && root >= 0 && root < this.size)) throw new RangeError(`${fn}: root ${root} is not a rank of ${this.size}`);
  }
}

/** A device tensor's reduced host copy back onto its device. */
function writeBack(x: Tensor, host: Float32Array): void {
  x.copyFrom(new Tensor(host, x.shape));
}
