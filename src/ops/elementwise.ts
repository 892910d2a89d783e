// Adds, scaling, bias and GELU.
import { native } from '../native.js';
import { expectSameDevice, expectFinite, expectShape, shapeString } from '../tensor/check.js';
import type { Tensor } from '../tensor/tensor.js';

function sameSize(op: string, names: string[], ts: Tensor[]): void {
  const first = ts[0] as Tensor;
  ts.forEach((t, i) => {
    if (t.size !== first.size) {
      throw new RangeError(`${op}: ${names[i]} ${shapeString(t.shape)} and ${names[0]} ${shapeString(first.shape)} differ in size`);
    }
  });
}

/** out = a + b (out may be a or b). */
export function add(a: Tensor, b: Tensor, out: Tensor): Tensor {
  expectSameDevice('add', { a, b, out });
  sameSize('add', ['a', 'b', 'out'], [a, b, out]);
  native.add(a.storage, b.storage, out.storage, a.size);
  return out;
}

/** y += alpha * x (the backward of a residual add, and gradient accumulation). */
export function axpy(alpha: number, x: Tensor, y: Tensor): Tensor {
  expectSameDevice('axpy', { x, y });
  expectFinite('axpy', 'alpha', alpha);
  sameSize('axpy', ['x', 'y'], [x, y]);
  native.axpy(alpha, x.storage, y.storage, x.size);
  return y;
}

/** x *= alpha */
export function scale(x: Tensor, alpha: number): Tensor {
  expectSameDevice('scale', { x });
  expectFinite('scale', 'alpha', alpha);
  native.scale(x.storage, x.size, alpha);
  return x;
}

function lastDim(t: Tensor): number {
  return t.shape[t.shape.length - 1] ?? 0;
}

/** out = x + bias over the last dimension (out may be x). */
export function biasAdd(x: Tensor, bias: Tensor, out: Tensor): Tensor {
  const op = 'biasAdd';
  expectSameDevice(op, { x, bias, out });
  const cols = lastDim(x);
  expectShape(op, 'bias', bias, [cols]);
  expectShape(op, 'out', out, x.shape);
  native.biasAdd(x.storage, bias.storage, out.storage, cols === 0 ? 0 : x.size / cols, cols);
  return out;
}

/** dbias (+)= sum of dy over all but the last dimension. */
export function biasGradient(dy: Tensor, dbias: Tensor, accumulate = true): Tensor {
  const op = 'biasGradient';
  expectSameDevice(op, { dy, dbias });
  const cols = lastDim(dy);
  expectShape(op, 'dbias', dbias, [cols]);
  native.biasGradient(dy.storage, dbias.storage, cols === 0 ? 0 : dy.size / cols, cols, accumulate);
  return dbias;
}

export type GeluKind = 'erf' | 'tanh' | 'quick';
const GELU_KINDS: Record<GeluKind, number> = { erf: 0, tanh: 1, quick: 2 };

function geluCode(op: string, kind: GeluKind): number {
  const code = GELU_KINDS[kind];
  if (code === undefined) throw new TypeError(`${op}: kind must be 'erf', 'tanh' or 'quick', got '${String(kind)}'`);
  return code;
}

export function geluForward(x: Tensor, y: Tensor, kind: GeluKind = 'erf'): Tensor {
  const op = 'geluForward';
  expectSameDevice(op, { x, y });
  expectShape(op, 'y', y, x.shape);
  native.geluForward(x.storage, y.storage, x.size, geluCode(op, kind));
  return y;
}

/** dx = dy ⊙ gelu'(x); with accumulate, dx += that. */
export function geluBackward(x: Tensor, dy: Tensor, dx: Tensor, kind: GeluKind = 'erf', accumulate = false): Tensor {
  const op = 'geluBackward';
  expectSameDevice(op, { x, dy, dx });
  expectShape(op, 'dy', dy, x.shape);
  expectShape(op, 'dx', dx, x.shape);
  native.geluBackward(x.storage, dy.storage, dx.storage, x.size, geluCode(op, kind), accumulate);
  return dx;
}
