import { readFileSync } from 'node:fs';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { main } from '../../src/cli/main.js';
import { native } from '../../src/native.js';
import { captureOutput } from '../helpers/capture.js';

const capture = captureOutput;

afterEach(() => vi.restoreAllMocks());

describe('cskd info', () => {
  it('--json reports version, CPU features, GEMM kernel and CUDA', async () => {
    const c = capture();
    expect(await main(['info', '--json'])).toBe(0);
    const info = JSON.parse(c.out()) as Record<string, unknown> & { cpu: { features: Record<string, boolean>; cores: number }; cuda: { compiled: boolean; devices: unknown[] } };
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(info['version']).toBe(pkg.version);
    expect(info['gemm']).toBe(`cskd ${native.gemmKernel()}`);
    expect(info.cpu.features).toEqual(native.cpuFeatures());
    expect(info.cpu.cores).toBeGreaterThan(0);
    expect(typeof info.cuda.compiled).toBe('boolean');
    expect(Array.isArray(info.cuda.devices)).toBe(true);
  });
  it('an unknown command exits 2, an unknown option 1', async () => {
    capture();
    expect(await main(['nonsense'])).toBe(2);
    expect(await main(['info', '--bogus'])).toBe(1);
  });
});
