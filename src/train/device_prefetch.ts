// Batches for a model on a CUDA device, each one's inputs already travelling
// to the device while the step before it runs.
//
// The wrapper reads one batch ahead: before it hands batch N to the step, it
// takes batch N+1 from the loader and uploads its host tensors on the copy
// stream (upload.ts). Batch N's kernels do not wait for that copy; batch
// N+1's first op does. Batch N's device inputs are released when the loop
// asks for the next batch, i.e. once step N is enqueued; the stream-ordered
// allocator keeps the memory until the compute stream is past it.
//
// Which tensors travel: every host Tensor among the batch's own fields and
// one level below (the distillation batch's `unl.strong`, `unl.targets`),
// which is where the phases put their inputs; everything else is passed on
// as it is.
import type { Device } from '../tensor/device_memory.js';
import { Tensor } from '../tensor/tensor.js';
import { Upload } from '../tensor/upload.js';

interface Uploaded<B> {
  batch: B;
  uploads: Upload[];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

function uploadBatch<B extends object>(batch: B, device: Device): Uploaded<B> {
  const uploads: Upload[] = [];
  const put = (v: unknown): unknown => {
    if (!(v instanceof Tensor) || v.device !== 'cpu') return v;
    const u = new Upload(v, device);
    uploads.push(u);
    return u.tensor;
  };
  try {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(batch)) {
      out[k] = isPlainObject(v) ? Object.fromEntries(Object.entries(v).map(([k2, v2]) => [k2, put(v2)])) : put(v);
    }
    return { batch: out as B, uploads };
  } catch (e) {
    for (const u of uploads) u.release();
    throw e;
  }
}

function release(u: Uploaded<unknown> | null): void {
  for (const x of u?.uploads ?? []) x.release();
}

export async function* prefetchToDevice<B extends object>(batches: AsyncIterable<B>, device: Device): AsyncGenerator<B> {
  const it = batches[Symbol.asyncIterator]();
  let ahead: Uploaded<B> | null = null; // uploaded, not yet handed out
  try {
    let r = await it.next();
    if (!r.done) ahead = uploadBatch(r.value, device);
    while (ahead) {
      const current: Uploaded<B> = ahead;
      ahead = null;
      try {
        r = await it.next();
        if (!r.done) ahead = uploadBatch(r.value, device);
        yield current.batch;
      } finally {
        release(current);
      }
    }
  } finally {
    release(ahead);
    await it.return?.();
  }
}
