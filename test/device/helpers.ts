// What the device tests share: the device under test, and copies of CPU
// tensors onto it (the CPU path is the independent reference).
import { expect } from 'vitest';

import { native } from '../../src/native.js';
import type { Device } from '../../src/tensor/device_memory.js';
import type { Tensor } from '../../src/tensor/tensor.js';

export const DEVICE: Device = 'cuda:0';

/** Fails at once, with the reason, when the loaded addon has no device. */
export function expectDevice(): void {
  const info = native.cudaInfo();
  expect(native.deviceCount(), `no CUDA device: ${info.reason ?? ''}`).toBeGreaterThan(0);
}

/** ‖a − ref‖∞ / ‖ref‖∞ (NaN if a holds a non-finite value). */
export function maxRelative(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (a.length !== ref.length) throw new Error(`length ${a.length} vs reference ${ref.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    if (!Number.isFinite(x)) return NaN;
    num = Math.max(num, Math.abs(x - (ref[i] as number)));
    den = Math.max(den, Math.abs(ref[i] as number));
  }
  return den === 0 ? num : num / den;
}

/** The device tensor `t` matches the CPU tensor `ref` within `budget` (max-norm relative). */
export function expectMatches(t: Tensor, ref: Tensor, budget: number, what: string): void {
  expect(t.device, `${what} should be on the device`).toBe(DEVICE);
  expect(ref.device).toBe('cpu');
  const err = maxRelative(t.copyToHost(), ref.data);
  expect(err, `${what}: relative error ${err} (budget ${budget})`).toBeLessThanOrEqual(budget);
}
