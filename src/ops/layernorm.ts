import { native } from '../native.js';
import { expectSameDevice, expectShape, shapeString } from '../tensor/check.js';
import type { Tensor } from '../tensor/tensor.js';

function rowsCols(op: string, x: Tensor, gamma: Tensor): [number, number] {
  const cols = x.shape[x.shape.length - 1] ?? 0;
  expectShape(op, 'gamma', gamma, [cols]);
  if (cols < 1) throw new RangeError(`${op}: x ${shapeString(x.shape)} has no features`);
  return [x.size / cols, cols];
}

function sameShape(op: string, name: string, t: Tensor, like: Tensor): void {
  expectShape(op, name, t, like.shape);
}

/** y = (x - mean) * rstd * gamma + beta over the last dimension; saves mean and rstd [rows]. */
export function layerNormForward(
  x: Tensor, gamma: Tensor, beta: Tensor, y: Tensor, mean: Tensor, rstd: Tensor, eps = 1e-6,
): void {
  const op = 'layerNormForward';
  expectSameDevice(op, { x, gamma, beta, y, mean, rstd });
  const [rows, cols] = rowsCols(op, x, gamma);
  expectShape(op, 'beta', beta, [cols]);
  sameShape(op, 'y', y, x);
  expectShape(op, 'mean', mean, [rows]);
  expectShape(op, 'rstd', rstd, [rows]);
  native.layerNormForward(x.storage, gamma.storage, beta.storage, y.storage, mean.storage, rstd.storage, rows, cols, eps);
}

/** Writes dx (adds into it with accumulate) and adds into dgamma and dbeta. */
export function layerNormBackward(
  x: Tensor, gamma: Tensor, mean: Tensor, rstd: Tensor, dy: Tensor,
  grads: { dx: Tensor; dgamma: Tensor; dbeta: Tensor; accumulate?: boolean },
): void {
  const op = 'layerNormBackward';
  expectSameDevice(op, { x, gamma, mean, rstd, dy, dx: grads.dx, dgamma: grads.dgamma, dbeta: grads.dbeta });
  const [rows, cols] = rowsCols(op, x, gamma);
  sameShape(op, 'dy', dy, x);
  sameShape(op, 'dx', grads.dx, x);
  expectShape(op, 'mean', mean, [rows]);
  expectShape(op, 'rstd', rstd, [rows]);
  expectShape(op, 'dgamma', grads.dgamma, [cols]);
  expectShape(op, 'dbeta', grads.dbeta, [cols]);
  native.layerNormBackward(
    x.storage, gamma.storage, mean.storage, rstd.storage, dy.storage, grads.dx.storage, grads.dgamma.storage, grads.dbeta.storage,
    rows, cols, grads.accumulate ?? false,
  );
}
