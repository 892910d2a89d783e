// Argument checks for every op, in one place. Errors name the op, the argument
// and the shapes involved, so a caller sees what it passed and what was wanted.
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

export function expectPositiveInt(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${op}: ${name} must be a positive integer, got ${v}`);
}

export function expectFinite(op: string, name: string, v: number): void {
  if (!Number.isFinite(v)) throw new RangeError(`${op}: ${name} must be a finite number, got ${v}`);
}

export function shapeString(shape: readonly number[]): string {
  return fmt(shape);
}
