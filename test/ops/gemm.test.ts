import { describe, expect, it } from 'vitest';

import { linearBackward, linearForward, matmul } from '../../src/ops/gemm.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Rng, expectClose, f64, poisoned, tensorOf } from '../helpers/numeric.js';
import { matmulRef } from '../helpers/reference.js';

// float32 products accumulate rounding ~ sqrt(K) · 2^-24 relative; 1e-5 is generous.
const BUDGET = 1e-5;

describe('matmul', () => {
  const rng = new Rng(1);
  const shapes: [number, number, number][] = [
    [1, 1, 1], [7, 5, 3], [37, 45, 29], [13, 33, 300], [197, 64, 197], [300, 130, 257], [12, 32, 256], [25, 65, 513],
  ];
  for (const [M, N, K] of shapes)
    for (const transA of [false, true])
      for (const transB of [false, true]) {
        it(`${M}x${N}x${K} transA=${transA} transB=${transB}`, () => {
          const a = rng.normals(M * K);
          const b = rng.normals(K * N);
          const A = tensorOf(a, transA ? [K, M] : [M, K]);
          const B = tensorOf(b, transB ? [N, K] : [K, N]);
          const C = poisoned([M, N]);
          matmul(A, B, C, { transA, transB });
          expectClose(C.data, matmulRef(f64(A), f64(B), M, N, K, transA, transB), BUDGET, 'C');
        });
      }

  it('applies alpha, beta and bias', () => {
    const [M, N, K] = [31, 47, 19];
    const A = tensorOf(rng.normals(M * K), [M, K]);
    const B = tensorOf(rng.normals(K * N), [K, N]);
    const c0 = rng.normals(M * N);
    const C = tensorOf(c0, [M, N]);
    const bias = tensorOf(rng.normals(N), [N]);
    matmul(A, B, C, { alpha: 0.5, beta: -2, bias });
    const ab = matmulRef(f64(A), f64(B), M, N, K);
    const c32 = Float64Array.from(Float32Array.from(c0));
    const ref = ab.map((v, i) => 0.5 * v - 2 * (c32[i] as number) + (bias.data[i % N] as number));
    expectClose(C.data, ref, BUDGET, 'C');
  });

  it('multiplies batches, broadcasting a 2-D operand', () => {
    const [Bt, M, N, K] = [3, 17, 23, 11];
    const A = tensorOf(rng.normals(Bt * M * K), [Bt, M, K]);
    const W = tensorOf(rng.normals(N * K), [N, K]);
    const C = poisoned([Bt, M, N]);
    matmul(A, W, C, { transB: true });
    for (let b = 0; b < Bt; b++) {
      const ref = matmulRef(f64(A).subarray(b * M * K, (b + 1) * M * K), f64(W), M, N, K, false, true);
      expectClose(C.data.subarray(b * M * N, (b + 1) * M * N), ref, BUDGET, `batch ${b}`);
    }
  });

  it('is deterministic across runs', () => {
    const A = tensorOf(rng.normals(300 * 200), [300, 200]);
    const B = tensorOf(rng.normals(200 * 150), [200, 150]);
    const C1 = poisoned([300, 150]);
    const C2 = poisoned([300, 150]);
    matmul(A, B, C1);
    matmul(A, B, C2);
    expect(Array.from(C1.data)).toEqual(Array.from(C2.data));
  });

  it('names the op and the shapes when they do not multiply', () => {
    const A = Tensor.zeros([3, 4]);
    const B = Tensor.zeros([5, 6]);
    expect(() => matmul(A, B, Tensor.zeros([3, 6]))).toThrow(/matmul: shapes do not multiply: a \[3, 4\] × b \[5, 6\] → out \[3, 6\]/);
    expect(() => matmul(A, Tensor.zeros([4, 6]), Tensor.zeros([3, 6]), { bias: Tensor.zeros([5]) })).toThrow(RangeError);
    expect(() => matmul(A, {} as Tensor, Tensor.zeros([3, 6]))).toThrow(TypeError);
  });
});

describe('linear', () => {
  it('forward and backward match y = x Wᵀ + b and its adjoints', () => {
    const rng = new Rng(2);
    const [M, inF, outF] = [29, 37, 23];
    const x = tensorOf(rng.normals(M * inF), [M, inF]);
    const W = tensorOf(rng.normals(outF * inF), [outF, inF]);
    const b = tensorOf(rng.normals(outF), [outF]);
    const y = poisoned([M, outF]);
    linearForward(x, W, b, y);
    const ref = matmulRef(f64(x), f64(W), M, outF, inF, false, true).map((v, i) => v + (b.data[i % outF] as number));
    expectClose(y.data, ref, BUDGET, 'y');

    const dy = tensorOf(rng.normals(M * outF), [M, outF]);
    const dx = poisoned([M, inF]);
    const dW = tensorOf(rng.normals(outF * inF), [outF, inF]); // gradients accumulate: start non-zero
    const dW0 = f64(dW);
    const db = Tensor.zeros([outF]);
    linearBackward(x, W, dy, { dx, dweight: dW, dbias: db });
    expectClose(dx.data, matmulRef(f64(dy), f64(W), M, inF, outF), BUDGET, 'dx');
    expectClose(dW.data, matmulRef(f64(dy), f64(x), outF, inF, M, true, false).map((v, i) => v + (dW0[i] as number)), BUDGET, 'dW');
    const dbRef = new Float64Array(outF);
    dy.data.forEach((v, i) => (dbRef[i % outF] = (dbRef[i % outF] as number) + v));
    expectClose(db.data, dbRef, BUDGET, 'db');
  });
});
