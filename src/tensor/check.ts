// Argument checks for every op, in one place. Errors name the op, the argument
// and the shapes involved, so a caller sees what it passed and what was wanted.
import type { Device } from './device_memory.js';
import { Tensor } from './tensor.js';

export type ShapeSpec = readonly (number | null)[];

function fmt(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? '*' : String(d))).join(', ')}]`;
}

export function expectTensor(op: string, name: string, t: unknown): asserts t is Tensor {
  if (!(t instanceof Tensor)) {
    throw new TypeError(`${op}: ${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  }
}

/** Checks rank and every dimension that the spec fixes (null matches any size). */
export function expectShape(op: string, name: string, t: unknown, spec: ShapeSpec): Tensor {
  expectTensor(op, name, t);
  const ok = t.shape.length === spec.length && spec.every((d, i) => d === null || d === t.shape[i]);
  if (!ok) throw new RangeError(`${op}: ${name} has shape ${fmt(t.shape)}, expected ${fmt(spec)}`);
  return t;
}

/** All tensors on the CPU in float32 (the only placement the CPU kernels take). */
export function expectCpuFloat32(op: string, tensors: Record<string, Tensor | null | undefined>): void {
  for (const [name, t] of Object.entries(tensors)) {
    if (t === null || t === undefined) continue;
    expectTensor(op, name, t);
    if (t.dtype !== 'float32') throw new TypeError(`${op}: ${name} is ${t.dtype}, expected float32`);
    if (t.device !== 'cpu') {
      throw new TypeError(`${op}: ${name} is on ${t.device}; this op runs on the CPU, move it first`);
    }
  }
}

/**
 * All tensors in float32 on one device, which the op then runs on (the addon
 * picks the CPU or the CUDA kernel by it). A mismatch is a TypeError naming
 * the op and where each tensor is.
 */
export function expectSameDevice(op: string, tensors: Record<string, Tensor | null | undefined>): Device {
  let device: Device | null = null;
  let mixed = false;
  const where: string[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (t === null || t === undefined) continue;
    expectTensor(op, name, t);
    if (t.dtype !== 'float32') throw new TypeError(`${op}: ${name} is ${t.dtype}, expected float32`);
    where.push(`${name} on ${t.device}`);
    if (device === null) device = t.device;
    else if (t.device !== device) mixed = true;
  }
  if (mixed) throw new TypeError(`${op}: tensors on different devices (${where.join(', ')}); move them to one with to()`);
  return device ?? 'cpu';
}

export function expectPositiveInt(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${op}: ${name} must be a positive integer, got ${v}`);
}

export function expectFinite(op: string, name: string, v: number): void {
  if (!Number.isFinite(v)) throw new RangeError(`${op}: ${name} must be a finite number, got ${v}`);
}

export function shapeString(shape: readonly number[]): string {
  return fmt(shape);
}
