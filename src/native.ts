// Loads the addon and declares its whole surface: the one typed view of the
// native code. Arguments are validated by the callers in src/ops before they
// reach these functions; the addon only re-checks types and byte lengths.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An opaque handle to a block of device memory (never readable from JS). */
export type DeviceHandle = { readonly __deviceHandle: unique symbol };

/** What the addon takes in place of a Float32Array for a device tensor (offset, length in elements). */
export interface DeviceView {
  readonly handle: DeviceHandle;
  readonly offset: number;
  readonly length: number;
  readonly device: `cuda:${number}`;
}

/** A tensor's elements as the addon takes them: host memory or a device view. */
type F32 = Float32Array | DeviceView;
type OptF32 = F32 | null;

export interface CpuFeatureFlags {
  avx2: boolean;
  fma: boolean;
  avx512f: boolean;
  avx512bw: boolean;
  avx512vl: boolean;
  avx512bf16: boolean;
  avx512vnni: boolean;
  amxTile: boolean;
}

export interface CudaDevice {
  name: string;
  computeCapability: string;
  memoryBytes: number;
  multiprocessors: number;
  /** The CPU emulation of the CUDA runtime (the CSKD_CUDA_EMULATION test build). */
  emulated: boolean;
}

export interface DeviceMemoryInfo {
  /** The runtime's free and total device memory, bytes. */
  free: number;
  total: number;
  /** The caching allocator's blocks handed out and held in its cache, bytes. */
  inUse: number;
  cached: number;
  /** Released blocks waiting for another stream's work before they can be reused, bytes. */
  pending: number;
}

export interface DeviceStats {
  /**
   * Kernels run on devices since the addon loaded: counted by the emulated
   * runtime's executor, or, on real hardware, the binding's device kernel calls.
   */
  kernelLaunches: number;
  emulated: boolean;
}

export interface NcclInfo {
  found: boolean;
  /** NCCL_VERSION_CODE: major * 10000 + minor * 100 + patch. */
  version?: number;
  library?: string;
  reason?: string;
}

export interface CudaInfo {
  compiled: boolean;
  runtimeVersion?: number;
  devices: CudaDevice[];
  reason?: string;
}

export interface NativeAddon {
  allocate(bytes: number): ArrayBuffer;
  /** Frees a block from allocate() now and detaches its buffer (views then have length 0). */
  release(buffer: ArrayBuffer): void;
  cpuFeatures(): CpuFeatureFlags;
  gemmKernel(): string;
  numThreads(): number;
  setNumThreads(n: number): void;
  measureFmaPeak(seconds: number, threads: number): number;
  cudaInfo(): CudaInfo;

  /** CUDA devices this addon can use (0 when built without CUDA); the rest exist only with CUDA. */
  deviceCount(): number;
  /** `forUpload`: the block belongs to the copy stream (a deviceUpload destination). */
  deviceAllocate(device: number, bytes: number, zero: boolean, forUpload?: boolean): DeviceHandle;
  deviceRelease(handle: DeviceHandle): void;
  /** n floats between any of host and device; waits only when the destination is the host. */
  deviceCopy(dst: F32, src: F32, n: number): void;
  /** n floats host -> device on the copy stream from pinned staging; dst from deviceAllocate(..., forUpload). */
  deviceUpload(dst: DeviceView, src: Float32Array, n: number): void;
  /** Tests: the compute (or copy) stream sleeps ms on the host before its later work. */
  deviceHoldStream(device: number, ms: number, copy: boolean): void;
  deviceFill(x: F32, n: number, value: number): void;
  /** flag[0] = 1 when x holds a NaN or an infinity (enqueued, not read). */
  flagNonFinite(x: F32, n: number, flag: F32): void;
  deviceSynchronize(device: number): void;
  deviceMemory(device: number): DeviceMemoryInfo;
  deviceEmptyCache(): void;
  deviceStats(): DeviceStats;

  /** Whether libnccl loads ($CSKD_NCCL, else libnccl.so.2); without CUDA, why not. */
  ncclInfo(): NcclInfo;
  /** Rank 0's 128-byte unique id (broadcast over MPI by src/dist/nccl.ts); CUDA builds only. */
  ncclUniqueId?(): Uint8Array;
  /** Joins the communicator on `device`; blocks until every rank has. */
  ncclStart?(device: number, id: Uint8Array, nranks: number, rank: number): void;
  /** In place over the device's stream; drains it first and waits for the collective. */
  ncclAllReduce?(x: DeviceView, n: number): void;
  ncclBroadcast?(x: DeviceView, n: number, root: number): void;
  /** Destroy (every rank, in order) or abort (this rank alone). */
  ncclStop?(abort: boolean): void;

  gemm(
    A: F32, B: F32, C: F32, bias: OptF32,
    M: number, N: number, K: number, transA: boolean, transB: boolean,
    alpha: number, beta: number, lda: number, ldb: number, ldc: number,
    batch: number, strideA: number, strideB: number, strideC: number,
    /** bf16 operands, float32 accumulation (device only; refused on the CPU). */
    bf16?: boolean,
  ): void;

  attentionForward(
    q: F32, k: F32, v: F32, out: F32, lse: F32,
    dims: Float64Array, qkvStrides: Float64Array, outStrides: Float64Array, scale: number, bf16?: boolean,
  ): void;
  attentionBackward(
    q: F32, k: F32, v: F32, out: F32, dout: F32, lse: F32, dq: F32, dk: F32, dv: F32,
    dims: Float64Array, qkvStrides: Float64Array, outStrides: Float64Array, scale: number, bf16?: boolean,
  ): void;
  attentionStats(
    q: F32, k: F32, distance: F32, entropy: F32,
    dims: Float64Array, qkvStrides: Float64Array, scale: number,
    prefix: number, gridH: number, gridW: number, patchPx: number,
  ): void;

  layerNormForward(
    x: F32, gamma: F32, beta: F32, y: F32, mean: F32, rstd: F32,
    rows: number, cols: number, eps: number,
  ): void;
  layerNormBackward(
    x: F32, gamma: F32, mean: F32, rstd: F32, dy: F32, dx: F32, dgamma: F32, dbeta: F32,
    rows: number, cols: number, accumulate: boolean,
  ): void;
  softmaxForward(x: F32, y: F32, rows: number, cols: number, temperature: number): void;
  softmaxBackward(y: F32, dy: F32, dx: F32, rows: number, cols: number, temperature: number): void;

  add(a: F32, b: F32, out: F32, n: number): void;
  axpy(alpha: number, x: F32, y: F32, n: number): void;
  scale(x: F32, n: number, alpha: number): void;
  biasAdd(x: F32, bias: F32, out: F32, rows: number, cols: number): void;
  biasGradient(dy: F32, dbias: F32, rows: number, cols: number, accumulate: boolean): void;
  geluForward(x: F32, y: F32, n: number, kind: number): void;
  geluBackward(x: F32, dy: F32, dx: F32, n: number, kind: number, accumulate: boolean): void;

  patchify(images: F32, patches: F32, B: number, C: number, H: number, W: number, p: number): void;
  patchifyBackward(dpatches: F32, dimages: F32, B: number, C: number, H: number, W: number, p: number): void;
  embedTokensForward(patches: F32, cls: F32, pos: F32, out: F32, B: number, P: number, E: number): void;
  embedTokensBackward(dout: F32, dpatches: F32, dcls: F32, dpos: F32, B: number, P: number, E: number): void;
  clsPoolForward(x: F32, out: F32, B: number, N: number, E: number): void;
  clsPoolBackward(dout: F32, dx: F32, B: number, N: number, E: number): void;
  meanPoolForward(x: F32, out: F32, B: number, N: number, E: number, start: number): void;
  meanPoolBackward(dout: F32, dx: F32, B: number, N: number, E: number, start: number): void;

  alignLoss(
    student: F32, target: F32, weights: OptF32, grad: OptF32, B: number, D: number,
    kind: number, normalize: boolean, beta: number, eps: number, gradScale: number, loss?: DeviceView,
  ): number | undefined;
  emdLoss(
    pred: F32, target: F32, weights: OptF32, grad: OptF32, B: number, K: number,
    r: number, squared: boolean, eps: number, gradScale: number, loss?: DeviceView,
  ): number | undefined;
  emdLossFromLogits(
    logits: F32, target: F32, weights: OptF32, grad: OptF32, probs: OptF32, B: number, K: number,
    r: number, squared: boolean, eps: number, gradScale: number, loss?: DeviceView,
  ): number | undefined;
  distillLoss(
    student: F32, teacher: F32, weights: OptF32, grad: OptF32, B: number, K: number,
    temperature: number, kind: number, gradScale: number, loss?: DeviceView,
  ): number | undefined;

  adamwStep(
    param: F32, grad: F32, m: F32, v: F32,
    segStart: Float64Array, segLength: Float64Array, segLr: Float32Array, segWeightDecay: Float32Array,
    beta1: number, beta2: number, eps: number, step: number, gradScale: number,
  ): void;
  sumOfSquares(x: F32, n: number): number;
  emaUpdate(ema: F32, param: F32, n: number, decay: number): void;

  /** Resolves when [3, size, size] is written at out[offset ..]; runs on libuv's pool. See decode.ts. */
  renderRawView(
    src: Uint8Array, width: number, height: number, axes: Float64Array,
    size: number, flip: boolean, norm: Float64Array, out: Float32Array, offset: number,
  ): Promise<void>;
}

/**
 * With CSKD_EMULATED_DEVICE=1 the addon is the CUDA-emulation build
 * (build-emu/, `npm run build:emu`): the device path on the CPU, for tests.
 * CSKD_ADDON names any addon file and wins over both.
 */
function findAddon(): string {
  // src/native.ts and dist/native.js both sit one level below the package root.
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const emulated = process.env['CSKD_EMULATED_DEVICE'] === '1';
  const builds = emulated ? ['build-emu'] : ['build'];
  const candidates = [
    process.env['CSKD_ADDON'],
    ...builds.flatMap((b) => [join(root, b, 'Release', 'cskd.node'), join(root, b, 'Debug', 'cskd.node')]),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  for (const p of candidates) if (existsSync(p)) return p;
  throw new Error(
    `cskd: the native addon is not built (looked in ${candidates.join(', ')}). ` +
      (emulated ? 'Run `npm run build:emu` (needs cmake, python3 and a C++20 compiler).' : 'Run `npm run build:native` (needs cmake and a C++17 compiler).'),
  );
}

const require = createRequire(import.meta.url);

/** The loaded addon. */
export const native: NativeAddon = require(findAddon()) as NativeAddon;

// ---- The MPI module (build/Release/cskd_mpi.node; src/dist) --------------
// A module apart from the addon above, built only where CMake finds MPI and
// linked against it. Loading it only loads libmpi; init() starts MPI, and
// src/dist calls that only under a launcher.

type HostArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface MpiNative {
  /** MPI_Get_library_version (callable before init). */
  libraryVersion(): string;
  /** The deadline of allReduceSum & co. around another module's blocking call (NCCL's). */
  armWatchdog(timeoutS: number, what: string): void;
  disarmWatchdog(): void;
  init(): { rank: number; size: number; funneled: boolean; library: string };
  /** Every rank's header into table (rank-major); returns the ranks whose header did not come in time. */
  exchangeHeaders(header: Float64Array, table: Float64Array, timeoutS: number): number[];
  allReduceSum(buffer: HostArray, bucketElements: number, timeoutS: number, what: string): void;
  broadcast(buffer: HostArray, root: number, timeoutS: number, what: string): void;
  allgatherv(send: HostArray, recv: HostArray, counts: Float64Array, timeoutS: number, what: string): void;
  abort(code: number): void;
  finalize(): void;
}

let mpiModule: { module: MpiNative } | { reason: string } | undefined;

/** The MPI module, or why it cannot be loaded (CSKD_MPI_MODULE names another file). */
export function loadMpiModule(): { module: MpiNative } | { reason: string } {
  if (mpiModule) return mpiModule;
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const candidates = [process.env['CSKD_MPI_MODULE'], join(root, 'build', 'Release', 'cskd_mpi.node'), join(root, 'build', 'Debug', 'cskd_mpi.node')].filter(
    (p): p is string => typeof p === 'string' && p.length > 0,
  );
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    mpiModule = { reason: `the MPI module is not built (looked in ${candidates.join(', ')}; install an MPI's development files, e.g. libopenmpi-dev, and run \`npm run build:native\`)` };
  } else {
    try {
      mpiModule = { module: require(path) as MpiNative };
    } catch (e) {
      mpiModule = { reason: `${path} does not load: ${(e as Error).message}` };
    }
  }
  return mpiModule;
}

export interface CommunicationInfo {
  mpi: { found: boolean; library?: string; reason?: string };
  nccl: NcclInfo;
}

/** Whether the MPI module loads (and which MPI it links) and whether the addon loads NCCL: `cskd info`. */
export function communicationInfo(): CommunicationInfo {
  const loaded = loadMpiModule();
  // The addon's own loader, the one training uses. NCCL's unique id travels
  // over MPI, so without the MPI module NCCL is found but cannot start.
  const nccl = native.ncclInfo();
  if ('reason' in loaded) {
    return { mpi: { found: false, reason: loaded.reason }, nccl: nccl.found ? { ...nccl, found: false, reason: `${nccl.library} loads, but NCCL starts over MPI, whose module is not built` } : nccl };
  }
  return { mpi: { found: true, library: loaded.module.libraryVersion().split(/[,\n]/)[0] }, nccl };
}
