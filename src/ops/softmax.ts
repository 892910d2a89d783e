import { native } from '../native.js';
import { expectSameDevice, expectFinite, expectShape } from '../tensor/check.js';
import type { Tensor } from '../tensor/tensor.js';

function rowsCols(x: Tensor): [number, number] {
  const cols = x.shape[x.shape.length - 1] ?? 0;
  return [cols === 0 ? 0 : x.size / cols, cols];
}

/** y = softmax(x / temperature) over the last dimension. */
export function softmaxForward(x: Tensor, y: Tensor, temperature = 1): void {
  const op = 'softmaxForward';
  expectSameDevice(op, { x, y });
  expectShape(op, 'y', y, x.shape);
  expectFinite(op, 'temperature', temperature);
  if (temperature <= 0) throw new RangeError(`${op}: temperature must be positive, got ${temperature}`);
  const [rows, cols] = rowsCols(x);
  if (cols < 1) throw new RangeError(`${op}: x has an empty last dimension`);
  native.softmaxForward(x.storage, y.storage, rows, cols, temperature);
}

/** dx = (y ⊙ (dy − ⟨y, dy⟩)) / temperature, from the forward's output y. */
export function softmaxBackward(y: Tensor, dy: Tensor, dx: Tensor, temperature = 1): void {
  const op = 'softmaxBackward';
  expectSameDevice(op, { y, dy, dx });
  expectShape(op, 'dy', dy, y.shape);
  expectShape(op, 'dx', dx, y.shape);
  if (!(temperature > 0)) throw new RangeError(`${op}: temperature must be positive, got ${temperature}`);
  const [rows, cols] = rowsCols(y);
  native.softmaxBackward(y.storage, dy.storage, dx.storage, rows, cols, temperature);
}
