// Host tensors sent to a device on its copy stream.
//
// An upload copies the host elements into a pinned staging buffer at once
// and enqueues the host-to-device copy on the device's copy stream, so it
// runs while the compute stream is still busy with earlier work. The first op
// that reads the device tensor makes the compute stream wait for the copy
// (the addon does that for any op), and releasing it returns the memory only
// once the compute stream has passed its last use (the allocator is stream-
// ordered), so the tensor can be released as soon as its step is enqueued.
import { native } from '../native.js';
import { type Device, DeviceBlock, deviceIndex } from './device_memory.js';
import { Tensor } from './tensor.js';

export class Upload {
  readonly tensor: Tensor;
  readonly #block: DeviceBlock;

  constructor(host: Tensor, device: Device) {
    if (host.device !== 'cpu') throw new TypeError(`upload: the source must be a host tensor, got one on ${host.device}`);
    if (device === 'cpu' || deviceIndex(device) < 0) throw new TypeError(`upload: the destination must be a CUDA device, got '${device}'`);
    this.#block = new DeviceBlock(device, Math.max(1, host.size) * 4, false, true);
    const view = this.#block.view(0, host.size);
    if (host.size > 0) native.deviceUpload(view, host.data, host.size);
    this.tensor = new Tensor(view, host.shape);
  }

  /** Returns the device memory (reused only after the work already enqueued on it). */
  release(): void {
    this.#block.release();
  }
}
