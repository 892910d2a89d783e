// What this installation of cskd is and which devices it can use: `cskd info`
// and the report's environment table read the same rows.
import { cpus } from 'node:os';

import { type CommunicationInfo, communicationInfo, type CpuFeatureFlags, type CudaInfo, native } from '../native.js';
import { packageVersion } from '../util/package.js';

export interface SystemInfo {
  version: string;
  node: string;
  platform: string;
  cpu: { model: string; cores: number; features: CpuFeatureFlags };
  threads: number;
  gemm: string;
  cuda: CudaInfo;
  /** MPI (the cskd_mpi module) and NCCL, for data-parallel runs (docs/distributed.md). */
  communication: CommunicationInfo;
}

export function systemInfo(): SystemInfo {
  const list = cpus();
  return {
    version: packageVersion(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: { model: list[0]?.model.trim() ?? 'unknown', cores: list.length, features: native.cpuFeatures() },
    threads: native.numThreads(),
    gemm: `cskd ${native.gemmKernel()}`,
    cuda: native.cudaInfo(),
    communication: communicationInfo(),
  };
}

/** The environment as labelled rows, in the order people read them. */
export function environmentRows(info: SystemInfo = systemInfo()): [string, string][] {
  const features = Object.entries(info.cpu.features)
    .filter(([, on]) => on)
    .map(([name]) => name)
    .join(' ');
  const devices = info.cuda.devices
    .map((d, i) => `cuda:${i} ${d.name}${d.emulated ? ' (emulated)' : ''}, ${(d.memoryBytes / 2 ** 30).toFixed(1)} GiB, sm ${d.computeCapability}`)
    .join('; ');
  const cuda = info.cuda.compiled ? `compiled (runtime ${info.cuda.runtimeVersion ?? '?'}); ${devices || `no device (${info.cuda.reason ?? 'none found'})`}` : 'not compiled';
  return [
    ['cskd', `${info.version} (Node ${info.node}, ${info.platform})`],
    ['CPU', `${info.cpu.model}, ${info.cpu.cores} cores, ${info.threads} kernel threads`],
    ['features', features || 'baseline x86-64'],
    ['GEMM', info.gemm],
    ['CUDA', cuda],
    ['MPI', found(info.communication.mpi.found, info.communication.mpi.library, info.communication.mpi.reason)],
    ['NCCL', found(info.communication.nccl.found, ncclFound(info.communication.nccl), info.communication.nccl.reason)],
  ];
}

function found(ok: boolean, what: string | undefined, reason: string | undefined): string {
  return ok ? `found${what ? ` (${what})` : ''}` : `not found: ${reason ?? 'unknown'}`;
}

/** The version (NCCL_VERSION_CODE = major * 10000 + minor * 100 + patch) and the library loaded. */
function ncclFound(nccl: CommunicationInfo['nccl']): string | undefined {
  const v = nccl.version;
  const version = v === undefined ? undefined : `${Math.floor(v / 10000)}.${Math.floor(v / 100) % 100}.${v % 100}`;
  return [version, nccl.library].filter((x) => x !== undefined).join(', ') || undefined;
}
