// What this installation of cskd is and what it can use: `cskd info`.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type CpuFeatureFlags, type CudaInfo, native } from './native.js';

export interface SystemInfo {
  version: string;
  node: string;
  platform: string;
  cpu: { model: string; cores: number; features: CpuFeatureFlags };
  threads: number;
  gemm: string;
  cuda: CudaInfo;
}

export function packageVersion(): string {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
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
  };
}
