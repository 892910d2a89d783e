// Uploads on the copy stream and the stream-ordered allocator, checked by
// holding one stream back (deviceHoldStream: a host function that sleeps on
// that stream alone) so that work which must wait is still in flight when the
// test looks. Each check would read the wrong values if the ordering it
// guards were missing.
import { describe, expect, it } from 'vitest';

import { native } from '../../src/native.js';
import { Arena } from '../../src/tensor/arena.js';
import { synchronize } from '../../src/tensor/device_memory.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Upload } from '../../src/tensor/upload.js';
import { prefetchToDevice } from '../../src/train/device_prefetch.js';
import { DEVICE, expectDevice } from './helpers.js';

const N = 4096;
const host = (v: number, n = N) => Tensor.from(Array.from({ length: n }, (_, i) => v + i * 1e-3), [n]);
const hold = (ms: number, copy: boolean) => native.deviceHoldStream(0, ms, copy);

describe('uploads on the copy stream', () => {
  it('arrive intact, and the source may be reused at once', () => {
    expectDevice();
    const src = host(1);
    const want = Float32Array.from(src.data);
    const u = new Upload(src, DEVICE);
    src.data.fill(-7); // staged at once: the device copy must not see this
    expect(Array.from(u.tensor.copyToHost())).toEqual(Array.from(want));
    u.release();
  });

  it('a staging buffer is not refilled while the copy engine may still read it', () => {
    // The copy stream is held, so the first upload's copy has not run when the
    // third upload needs its staging buffer again: that upload must wait.
    hold(300, true);
    const srcs = [host(10), host(20), host(30)];
    const ups = srcs.map((s) => new Upload(s, DEVICE));
    for (let i = 0; i < 3; i++) {
      expect(ups[i]!.tensor.copyToHost()[5], `upload ${i}`).toBeCloseTo(srcs[i]!.data[5]!, 5);
    }
    for (const u of ups) u.release();
  });

  it('the compute stream does not hold the copy stream back', () => {
    // Compute is held for 2 s; three uploads (the third needs the first's
    // staging buffer, so it waits for that copy) finish long before.
    hold(2000, false);
    const t0 = performance.now();
    const ups = [host(1), host(2), host(3)].map((s) => new Upload(s, DEVICE));
    const ms = performance.now() - t0;
    expect(ms, `three uploads took ${ms.toFixed(0)} ms while compute was held 2000 ms`).toBeLessThan(1000);
    synchronize(DEVICE);
    for (const u of ups) u.release();
  });

  it('a released upload block is reused only after the compute stream has read it', () => {
    const arena = new Arena('reader', 1 << 16, DEVICE);
    const a = new Upload(host(100), DEVICE);
    hold(300, false); // the compute stream's read of `a` below runs after 300 ms
    // Enqueued on compute (a fill kernel, then the copy reading a's block).
    const copied = arena.alloc([N]).fill(0).copyFrom(a.tensor);
    a.release();
    const m = native.deviceMemory(0);
    expect(m.pending, 'a is pending until compute has read it').toBeGreaterThan(0);
    // Same size, same stream: were a's block handed out now, this upload would
    // overwrite it before the held compute stream reads it.
    const c = new Upload(host(900), DEVICE);
    expect(copied.copyToHost()[7]).toBeCloseTo(100 + 7e-3, 4);
    expect(c.tensor.copyToHost()[7]).toBeCloseTo(900 + 7e-3, 3);
    c.release();
    synchronize(DEVICE);
    // Once compute has passed, the next allocation moves the pending blocks to the cache.
    const d = new Upload(host(0), DEVICE);
    expect(native.deviceMemory(0).pending).toBe(0);
    d.release();
  });
});

describe('prefetchToDevice', () => {
  async function* hostBatches(n: number) {
    for (let i = 0; i < n; i++) yield { size: 2, waitMs: 0, images: host(i, 6), unl: { strong: host(50 + i, 4), note: `u${i}` }, tag: i };
  }

  it('hands out each batch with its host tensors (and those one level down) on the device, the rest as it was', async () => {
    const seen: number[] = [];
    for await (const b of prefetchToDevice(hostBatches(3), DEVICE)) {
      expect(b.images.device).toBe(DEVICE);
      expect(b.unl.strong.device).toBe(DEVICE);
      expect(b.unl.note).toBe(`u${b.tag}`);
      expect(b.images.copyToHost()[1]).toBeCloseTo(b.tag + 1e-3, 5);
      expect(b.unl.strong.copyToHost()[3]).toBeCloseTo(50 + b.tag + 3e-3, 4);
      seen.push(b.tag);
    }
    expect(seen).toEqual([0, 1, 2]);
  });

  it('releases every upload, also when the consumer stops early', async () => {
    synchronize(DEVICE);
    const before = native.deviceMemory(0).inUse;
    for await (const b of prefetchToDevice(hostBatches(5), DEVICE)) {
      if (b.tag === 1) break; // batch 2 was uploaded ahead and must be released too
    }
    expect(native.deviceMemory(0).inUse).toBe(before);
    for await (const b of prefetchToDevice(hostBatches(2), DEVICE)) void b;
    expect(native.deviceMemory(0).inUse).toBe(before);
  });
});
