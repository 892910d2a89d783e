// The addon's own checks: a bad call from JS must throw, never crash the process.
import { describe, expect, it } from 'vitest';

import { native } from '../src/native.js';

describe('native argument checks', () => {
  it('wrong types are TypeErrors naming the op and the argument', () => {
    expect(() => native.geluForward([1, 2] as unknown as Float32Array, new Float32Array(2), 2, 0)).toThrow(/geluForward: x must be a Float32Array/);
    expect(() => native.gemm(new Float64Array(4) as unknown as Float32Array, new Float32Array(4), new Float32Array(4), null, 2, 2, 2, false, false, 1, 0, 2, 2, 2, 1, 0, 0, 0)).toThrow(TypeError);
    expect(() => native.add(new Float32Array(2), new Float32Array(2), new Float32Array(2), -1)).toThrow(/add: n must be a non-negative integer/);
  });
  it('buffers too short for the shapes are RangeErrors, not out-of-bounds reads', () => {
    expect(() => native.gemm(new Float32Array(3), new Float32Array(4), new Float32Array(4), null, 2, 2, 2, false, false, 1, 0, 2, 2, 2, 1, 0, 0, 0)).toThrow(
      /gemm: A holds 3 elements, needs 4/,
    );
    const dims = new Float64Array([1, 1, 8, 4]);
    const s = new Float64Array([32, 32, 4]);
    expect(() => native.attentionForward(new Float32Array(32), new Float32Array(32), new Float32Array(31), new Float32Array(32), new Float32Array(8), dims, s, s, 0.5)).toThrow(/attentionForward: v holds 31 elements, needs 32/);
    expect(() => native.emdLoss(new Float32Array(10), new Float32Array(9), null, null, 1, 10, 2, false, 0, 1)).toThrow(RangeError);
  });
  it('reports the CPU features and the GEMM kernel chosen from them', () => {
    const f = native.cpuFeatures();
    const kernel = native.gemmKernel();
    if (f.avx512f) expect(kernel).toMatch(/^avx512/);
    else if (f.avx2 && f.fma) expect(kernel).toMatch(/^avx2/);
    else expect(kernel).toMatch(/^generic/);
  });
  it('loads without a GPU and says why no device is listed', () => {
    const c = native.cudaInfo();
    if (c.devices.length === 0) expect(typeof c.reason).toBe('string');
    else expect(c.devices[0]?.name.length).toBeGreaterThan(0);
  });
});
