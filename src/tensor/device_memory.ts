// Device placement and device memory as the TS side sees it.
//
// A device tensor's elements live in a block of the addon's caching allocator.
// JS holds only an opaque handle to the block: no ArrayBuffer, so nothing can
// read device memory by accident. Tensors pass views {handle, offset, length}
// (offset and length in elements) to the addon, which checks them against the
// block and resolves them to device pointers.
import { type DeviceHandle, type DeviceView, native } from '../native.js';

export type { DeviceHandle, DeviceView } from '../native.js';

/** Where a tensor lives: the host, or CUDA device N. */
export type Device = 'cpu' | `cuda:${number}`;

/** 'cpu', 'cuda' (device 0) or 'cuda:N' → the canonical name; throws on anything else. */
export function parseDevice(name: string): Device {
  if (name === 'cpu') return 'cpu';
  if (name === 'cuda') return 'cuda:0';
  const m = /^cuda:(\d+)$/.exec(name);
  if (!m) throw new TypeError(`device must be 'cpu', 'cuda' or 'cuda:N', got '${name}'`);
  return `cuda:${Number(m[1])}`;
}

/** The CUDA ordinal of a device (-1 for the CPU). */
export function deviceIndex(device: Device): number {
  return device === 'cpu' ? -1 : Number(device.slice(5));
}

/** Number of CUDA devices the loaded addon can use (0 when it was built without CUDA). */
export function cudaDeviceCount(): number {
  return native.deviceCount();
}

/** Throws unless `device` is the CPU or a CUDA device this addon can reach. */
export function checkDeviceAvailable(op: string, device: Device): void {
  if (device === 'cpu') return;
  const n = native.deviceCount();
  const index = deviceIndex(device);
  if (index >= n) {
    const info = native.cudaInfo();
    const why = n === 0 ? (info.reason ?? 'no CUDA device') : `${n} device${n === 1 ? '' : 's'} found`;
    throw new RangeError(`${op}: ${device} is not available (${why})`);
  }
}

/** A block from the device allocator; freed when released or collected. */
export class DeviceBlock {
  readonly device: `cuda:${number}`;
  readonly bytes: number;
  readonly handle: DeviceHandle;

  /** `forUpload`: for the copy stream, as the destination of uploads (upload.ts). */
  constructor(device: `cuda:${number}`, bytes: number, zero: boolean, forUpload = false) {
    checkDeviceAvailable('deviceAllocate', device);
    this.device = device;
    this.bytes = bytes;
    this.handle = native.deviceAllocate(deviceIndex(device), bytes, zero, forUpload);
  }

  view(offset: number, length: number): DeviceView {
    return { handle: this.handle, offset, length, device: this.device };
  }

  /** Returns the memory to the allocator's cache now; views then throw in the addon. */
  release(): void {
    native.deviceRelease(this.handle);
  }
}

/** Waits for every kernel and copy enqueued on the device's stream. */
export function synchronize(device: Device): void {
  if (device !== 'cpu') native.deviceSynchronize(deviceIndex(device));
}
