import { describe, expect, it } from 'vitest';

import { Arena } from '../../src/tensor/arena.js';
import { Tensor } from '../../src/tensor/tensor.js';

describe('Tensor', () => {
  it('persistent tensors own a zero-filled native block of exactly their size', () => {
    const t = Tensor.zeros([3, 5]);
    expect(t.size).toBe(15);
    expect(Array.from(t.data)).toEqual(new Array(15).fill(0));
    expect(t.data.buffer.byteLength).toBe(60);
  });
  it('reshape and slice share memory; bad shapes throw RangeError', () => {
    const t = Tensor.from([0, 1, 2, 3, 4, 5], [2, 3]);
    const r = t.reshape([3, 2]);
    r.data[0] = 9;
    expect(t.data[0]).toBe(9);
    expect(Array.from(t.slice(1, 2).data)).toEqual([3, 4, 5]);
    expect(() => t.reshape([4, 2])).toThrow(/reshape: \[2, 3\] has 6 elements, \[4, 2\] needs 8/);
    expect(() => t.slice(1, 3)).toThrow(RangeError);
    expect(() => Tensor.zeros([2, -1])).toThrow(RangeError);
  });
});

describe('Arena', () => {
  it('a view used after reset throws instead of reading the next step', () => {
    const arena = new Arena('test', 1024);
    const a = arena.alloc([4, 4]);
    a.fill(1);
    const view = a.reshape([16]);
    arena.reset();
    expect(() => a.data).toThrow(/tensor \[4, 4\] from arena 'test' used after reset \(allocated in generation 0, arena is at 1\)/);
    expect(() => view.data).toThrow(/used after reset/);
    expect(a.alive).toBe(false);
    const b = arena.alloc([4, 4]);
    expect(b.alive).toBe(true);
  });

  it('allocations do not overlap and are 64-byte aligned', () => {
    const arena = new Arena('test', 4096);
    const ts = [arena.alloc([3]), arena.alloc([17]), arena.alloc([64]), arena.alloc([5, 5])];
    ts.forEach((t, i) => t.fill(i + 1));
    ts.forEach((t, i) => {
      expect(t.data.byteOffset % 64).toBe(0);
      expect(t.data.every((v) => v === i + 1)).toBe(true);
    });
  });

  it('grows during the first step, then keeps memory flat over 10,000 steps', () => {
    const arena = new Arena('step', 256);
    const step = () => {
      for (const n of [100, 1000, 50, 4000, 7]) arena.alloc([n]).fill(n);
      arena.reset();
    };
    step();
    const capacity = arena.capacity;
    const peak = arena.peak;
    expect(capacity).toBeGreaterThanOrEqual(peak);
    for (let i = 0; i < 10_000; i++) step();
    expect(arena.capacity).toBe(capacity);
    expect(arena.peak).toBe(peak);
    expect(arena.generation).toBe(10_001);
  });
});

describe('Arena scratch and release', () => {
  it('scratch views die with a scratch reset and with the parent reset', () => {
    const arena = new Arena('p', 256);
    const keep = arena.alloc([4]);
    const tmp = arena.scratch.alloc([4]);
    arena.scratch.reset();
    expect(() => tmp.data).toThrow(/arena 'p.scratch' used after reset/);
    expect(keep.alive).toBe(true);
    const tmp2 = arena.scratch.alloc([4]);
    arena.reset();
    expect(tmp2.alive).toBe(false);
  });

  it('growth blocks are freed at the coalescing reset: their old views read nothing', () => {
    const arena = new Arena('g', 64);
    const a = arena.alloc([1000]); // forces a second block
    const raw = a.data;
    expect(raw.length).toBe(1000);
    arena.reset();
    expect(raw.length).toBe(0); // the buffer behind it was released and detached
    expect(arena.alloc([1000]).data.length).toBe(1000);
  });
});
