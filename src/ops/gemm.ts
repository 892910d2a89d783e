// Matrix products and the Linear layer on top of the native GEMM.
import { native } from '../native.js';
import { expectSameDevice, expectShape, shapeString } from '../tensor/check.js';
import type { Tensor } from '../tensor/tensor.js';
import { bf16 } from './precision.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** Scale of the existing out (0: overwrite, 1: accumulate). */
  beta?: number;
  /** Added to every row of out, [N]. */
  bias?: Tensor | null;
}

/**
 * out = alpha * op(a) op(b) + beta * out (+ bias). 2-D operands, or 3-D with a
 * shared leading batch dimension (a 2-D operand is then broadcast over it).
 */
export function matmul(a: Tensor, b: Tensor, out: Tensor, opts: MatmulOptions = {}): Tensor {
  const op = 'matmul';
  const { transA = false, transB = false, alpha = 1, beta = 0, bias = null } = opts;
  expectSameDevice(op, { a, b, out, bias });
  const rank = out.shape.length;
  if (rank !== 2 && rank !== 3) throw new RangeError(`${op}: out must be 2-D or 3-D, got ${shapeString(out.shape)}`);
  const batch = rank === 3 ? (out.shape[0] as number) : 1;
  const mat = (t: Tensor, name: string): [number, number, number] => {
    if (t.shape.length === 2) return [t.shape[0] as number, t.shape[1] as number, 0];
    if (t.shape.length === 3 && rank === 3 && t.shape[0] === batch) {
      return [t.shape[1] as number, t.shape[2] as number, (t.shape[1] as number) * (t.shape[2] as number)];
    }
    throw new RangeError(`${op}: ${name} has shape ${shapeString(t.shape)}, incompatible with out ${shapeString(out.shape)}`);
  };
  const [ar, ac, sA] = mat(a, 'a');
  const [br, bc, sB] = mat(b, 'b');
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const N = transB ? br : bc;
  const Kb = transB ? bc : br;
  const outM = out.shape[rank - 2] as number;
  const outN = out.shape[rank - 1] as number;
  if (K !== Kb || outM !== M || outN !== N) {
    throw new RangeError(
      `${op}: shapes do not multiply: a ${shapeString(a.shape)}${transA ? 'ᵀ' : ''} × b ${shapeString(b.shape)}${transB ? 'ᵀ' : ''} → out ${shapeString(out.shape)}`,
    );
  }
  if (bias) expectShape(op, 'bias', bias, [N]);
  native.gemm(a.storage, b.storage, out.storage, bias ? bias.storage : null, M, N, K, transA, transB, alpha, beta, ac, bc, N, batch, sA, sB, M * N, bf16());
  return out;
}

/** Rows of x viewed as a matrix: [..., features] → [rows, features]. */
function rows(t: Tensor): number {
  return t.size / (t.shape[t.shape.length - 1] as number);
}

/** y = x W^T + b, the PyTorch Linear: x [..., in], weight [out, in], y [..., out]. */
export function linearForward(x: Tensor, weight: Tensor, bias: Tensor | null, y: Tensor): Tensor {
  const op = 'linearForward';
  expectSameDevice(op, { x, weight, bias, y });
  const [outF, inF] = weight.shape as [number, number];
  expectShape(op, 'weight', weight, [null, null]);
  if (x.shape[x.shape.length - 1] !== inF || y.shape[y.shape.length - 1] !== outF || rows(x) !== rows(y)) {
    throw new RangeError(`${op}: x ${shapeString(x.shape)}, weight ${shapeString(weight.shape)}, y ${shapeString(y.shape)} do not match`);
  }
  if (bias) expectShape(op, 'bias', bias, [outF]);
  const M = rows(x);
  native.gemm(x.storage, weight.storage, y.storage, bias ? bias.storage : null, M, outF, inF, false, true, 1, 0, inF, inF, outF, 1, 0, 0, 0, bf16());
  return y;
}

export interface LinearGrads {
  /** Written (or added into, with accumulateDx); null to skip. */
  dx: Tensor | null;
  /** Added into (gradients accumulate over micro-batches). */
  dweight: Tensor;
  dbias: Tensor | null;
  accumulateDx?: boolean;
}

/** Backward of linearForward: dx = dy W, dW += dy^T x, db += sum of dy's rows. */
export function linearBackward(x: Tensor, weight: Tensor, dy: Tensor, g: LinearGrads): void {
  const op = 'linearBackward';
  expectSameDevice(op, { x, weight, dy, dx: g.dx, dweight: g.dweight, dbias: g.dbias });
  const [outF, inF] = weight.shape as [number, number];
  const M = rows(x);
  if (dy.shape[dy.shape.length - 1] !== outF || rows(dy) !== M || x.shape[x.shape.length - 1] !== inF) {
    throw new RangeError(`${op}: x ${shapeString(x.shape)}, weight ${shapeString(weight.shape)}, dy ${shapeString(dy.shape)} do not match`);
  }
  expectShape(op, 'dweight', g.dweight, [outF, inF]);
  if (g.dx) {
    if (g.dx.size !== x.size) throw new RangeError(`${op}: dx ${shapeString(g.dx.shape)} does not match x ${shapeString(x.shape)}`);
    native.gemm(dy.storage, weight.storage, g.dx.storage, null, M, inF, outF, false, false, 1, g.accumulateDx ? 1 : 0, outF, inF, inF, 1, 0, 0, 0, bf16());
  }
  native.gemm(dy.storage, x.storage, g.dweight.storage, null, outF, inF, M, true, false, 1, 1, outF, inF, inF, 1, 0, 0, 0, bf16());
  if (g.dbias) {
    expectShape(op, 'dbias', g.dbias, [outF]);
    native.biasGradient(dy.storage, g.dbias.storage, M, outF, true);
  }
}
