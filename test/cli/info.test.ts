import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { main } from '../../src/cli/main.js';
import { captureOutput } from '../helpers/capture.js';

afterEach(() => vi.restoreAllMocks());

// The kernel's own reading of the CPU, independent of the addon's cpuid probe.
function procCpuFlags(): Set<string> | null {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const line = text.split('\n').find((l) => l.startsWith('flags'));
    return line ? new Set(line.split(':')[1]?.trim().split(/\s+/)) : null;
  } catch {
    return null;
  }
}

// cskd's feature names → the kernel's flag names.
const LINUX_FLAG: Record<string, string> = {
  avx2: 'avx2',
  fma: 'fma',
  avx512f: 'avx512f',
  avx512bw: 'avx512bw',
  avx512vl: 'avx512vl',
  avx512bf16: 'avx512_bf16',
  avx512vnni: 'avx512_vnni',
  amxTile: 'amx_tile',
};

describe('cskd info', () => {
  it('--json agrees with package.json and with the CPU flags the kernel reports', async () => {
    const c = captureOutput();
    expect(await main(['info', '--json'])).toBe(0);
    const info = JSON.parse(c.out()) as { version: string; gemm: string; cpu: { features: Record<string, boolean>; cores: number }; cuda: { compiled: boolean; devices: unknown[] } };
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(info.version).toBe(pkg.version);
    expect(info.cpu.cores).toBe(cpus().length);
    const flags = procCpuFlags();
    if (flags) {
      for (const [name, on] of Object.entries(info.cpu.features)) {
        expect([name, on]).toEqual([name, flags.has(LINUX_FLAG[name] ?? name)]);
      }
      // The GEMM micro-kernel follows the widest vector unit the CPU has.
      const expected = flags.has('avx512f') ? /avx512/ : flags.has('avx2') && flags.has('fma') ? /avx2/ : /portable/;
      expect(info.gemm).toMatch(expected);
    }
    expect(Array.isArray(info.cuda.devices)).toBe(true);
  });

  it('prints the same rows as text', async () => {
    const c = captureOutput();
    expect(await main(['info'])).toBe(0);
    expect(c.out()).toMatch(/^cskd +\d+\.\d+\.\d+ \(Node v\d+/);
    expect(c.out()).toMatch(/\nCUDA +(compiled|not compiled)/);
  });
});
