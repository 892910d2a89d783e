import { describe, expect, it } from 'vitest';

import { layerNormBackward, layerNormForward } from '../../src/ops/layernorm.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Rng, expectClose, f64, finiteDifferences, poisoned, sampleIndices, tensorOf } from '../helpers/numeric.js';
import { layerNormRef } from '../helpers/reference.js';

describe('layerNorm', () => {
  const rng = new Rng(5);
  for (const [rows, cols] of [[1, 1], [7, 3], [197, 64], [50, 384], [3, 1000]] as [number, number][]) {
    it(`forward and backward ${rows}x${cols}`, () => {
      const eps = 1e-6;
      // An offset mean, as in a real residual stream, to catch one-pass variance.
      const x = tensorOf(rng.normals(rows * cols).map((v) => v * 3 + 5), [rows, cols]);
      const gamma = tensorOf(rng.normals(cols), [cols]);
      const beta = tensorOf(rng.normals(cols), [cols]);
      const y = poisoned([rows, cols]);
      const mean = poisoned([rows]);
      const rstd = poisoned([rows]);
      layerNormForward(x, gamma, beta, y, mean, rstd, eps);
      const ref = layerNormRef(f64(x), f64(gamma), f64(beta), rows, cols, eps);
      expectClose(y.data, ref.y, 1e-5, 'y');
      expectClose(mean.data, ref.mean, 1e-6, 'mean');
      expectClose(rstd.data, ref.rstd, 1e-6, 'rstd');

      const dy = tensorOf(rng.normals(rows * cols), [rows, cols]);
      const dx = poisoned([rows, cols]);
      const dgamma = Tensor.zeros([cols]);
      const dbeta = Tensor.zeros([cols]);
      layerNormBackward(x, gamma, mean, rstd, dy, { dx, dgamma, dbeta });
      const g = f64(dy);
      const loss = (xx: Float64Array, gg: Float64Array, bb: Float64Array) =>
        layerNormRef(xx, gg, bb, rows, cols, eps).y.reduce((s, v, i) => s + v * (g[i] as number), 0);
      const [X, G, Bt] = [f64(x), f64(gamma), f64(beta)];
      const cx = sampleIndices(rng, rows * cols, 20);
      const cg = sampleIndices(rng, cols, 10);
      expectClose(cx.map((i) => dx.data[i] as number), finiteDifferences((v) => loss(v, G, Bt), X, cx, 1e-4), 1e-4, 'dx');
      expectClose(cg.map((i) => dgamma.data[i] as number), finiteDifferences((v) => loss(X, v, Bt), G, cg, 1e-4), 1e-5, 'dgamma');
      expectClose(cg.map((i) => dbeta.data[i] as number), finiteDifferences((v) => loss(X, G, v), Bt, cg, 1e-4), 1e-5, 'dbeta');
    });
  }

  it('accumulates into dx, dgamma and dbeta', () => {
    const [rows, cols] = [9, 16];
    const x = tensorOf(rng.normals(rows * cols), [rows, cols]);
    const gamma = tensorOf(rng.normals(cols), [cols]);
    const beta = Tensor.zeros([cols]);
    const y = Tensor.zeros([rows, cols]);
    const mean = Tensor.zeros([rows]);
    const rstd = Tensor.zeros([rows]);
    layerNormForward(x, gamma, beta, y, mean, rstd);
    const dy = tensorOf(rng.normals(rows * cols), [rows, cols]);
    const once = { dx: Tensor.zeros([rows, cols]), dgamma: Tensor.zeros([cols]), dbeta: Tensor.zeros([cols]) };
    layerNormBackward(x, gamma, mean, rstd, dy, once);
    const twice = { dx: Tensor.zeros([rows, cols]), dgamma: Tensor.zeros([cols]), dbeta: Tensor.zeros([cols]), accumulate: true };
    layerNormBackward(x, gamma, mean, rstd, dy, twice);
    layerNormBackward(x, gamma, mean, rstd, dy, twice);
    expectClose(twice.dx.data, once.dx.data.map((v) => 2 * v), 1e-6, 'dx');
    expectClose(twice.dgamma.data, once.dgamma.data.map((v) => 2 * v), 1e-6, 'dgamma');
    expectClose(twice.dbeta.data, once.dbeta.data.map((v) => 2 * v), 1e-6, 'dbeta');
  });

  it('names the op and the shapes on a mismatch', () => {
    const x = Tensor.zeros([4, 8]);
    expect(() => layerNormForward(x, Tensor.zeros([7]), Tensor.zeros([8]), Tensor.zeros([4, 8]), Tensor.zeros([4]), Tensor.zeros([4]))).toThrow(
      /layerNormForward: gamma has shape \[7\], expected \[8\]/,
    );
  });
});
