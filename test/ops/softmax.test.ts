import { describe, it } from 'vitest';

import { softmaxBackward, softmaxForward } from '../../src/ops/softmax.js';
import { Rng, expectClose, f64, finiteDifferences, poisoned, sampleIndices, tensorOf } from '../helpers/numeric.js';
import { softmaxRef } from '../helpers/reference.js';

describe('softmax', () => {
  const rng = new Rng(6);
  for (const [rows, cols, T] of [[1, 1, 1], [64, 10, 1], [33, 197, 1], [5, 10, 2.5], [4, 7, 0.5]] as [number, number, number][]) {
    it(`${rows}x${cols} at temperature ${T}`, () => {
      const x = tensorOf(rng.normals(rows * cols, 4), [rows, cols]);
      const y = poisoned([rows, cols]);
      softmaxForward(x, y, T);
      expectClose(y.data, softmaxRef(f64(x), rows, cols, T), 1e-6, 'y');
      const dy = tensorOf(rng.normals(rows * cols), [rows, cols]);
      const dx = poisoned([rows, cols]);
      softmaxBackward(y, dy, dx, T);
      const g = f64(dy);
      const coords = sampleIndices(rng, rows * cols, 20);
      const fd = finiteDifferences((v) => softmaxRef(v, rows, cols, T).reduce((s, p, i) => s + p * (g[i] as number), 0), f64(x), coords);
      expectClose(coords.map((i) => dx.data[i] as number), fd, 1e-5, 'dx');
    });
  }
});
