// The device allocator under a training loop's pattern (an arena reset every
// step) and at its limit (a request larger than what is free, and one that
// fits only once the allocator's cache is given back).
import { describe, expect, it } from 'vitest';

import { native } from '../../src/native.js';
import { Arena } from '../../src/tensor/arena.js';
import { DeviceBlock } from '../../src/tensor/device_memory.js';
import { DEVICE, expectDevice } from './helpers.js';

const memory = () => native.deviceMemory(0);
const GPU = DEVICE as `cuda:${number}`;

describe('device memory', () => {
  it('an arena reset every step holds its memory flat after the first step', () => {
    expectDevice();
    const arena = new Arena('steps', 1 << 12, DEVICE);
    const sizes = [[64, 64], [3, 1000], [257, 33], [2048]];
    const inUse: number[] = [];
    for (let step = 0; step < 50; step++) {
      for (const s of sizes) arena.alloc(s).fill(step);
      arena.reset();
      inUse.push(memory().inUse);
    }
    // The first step grew the arena through several blocks; its reset made
    // them one, and nothing is allocated after that.
    const settled = inUse.slice(1);
    expect(new Set(settled).size, `bytes in use per step: ${settled.join(', ')}`).toBe(1);
    expect(arena.capacity).toBeGreaterThanOrEqual(arena.peak);
    // Views of an earlier step are refused, on the device as on the CPU.
    const t = arena.alloc([4]);
    arena.reset();
    expect(() => t.copyToHost()).toThrow(/from arena 'steps' used after reset/);
  });

  it('a request beyond the free memory is a named error; cached blocks are given back to fit one', () => {
    const free = memory().free;
    expect(() => new DeviceBlock(GPU, free + (1 << 30), false)).toThrow(/out of device memory allocating \d+ bytes on cuda:0 \(\d+ of \d+ bytes free/);
    // 70% of the free memory, released into the allocator's cache: a request
    // for 34% cannot reuse it (the cache serves requests of at least half a
    // block) and does not fit beside it, so the allocator must empty its
    // cache and retry.
    const big = new DeviceBlock(GPU, Math.floor(free * 0.7), false);
    big.release();
    expect(memory().cached).toBeGreaterThanOrEqual(big.bytes);
    const other = new DeviceBlock(GPU, Math.floor(free * 0.34), false);
    expect(memory().cached).toBeLessThan(big.bytes);
    other.release();
    native.deviceEmptyCache();
    expect(memory().cached).toBe(0);
  });
});
