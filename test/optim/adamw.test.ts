import { describe, expect, it } from 'vitest';

import { ParameterSet } from '../../src/nn/parameters.js';
import { AdamW } from '../../src/optim/adamw.js';
import { NonFiniteError } from '../../src/util/errors.js';

function twoParams(): ParameterSet {
  const ps = new ParameterSet();
  ps.add('w', [1, 3]); // a matrix: weight decay applies
  ps.add('b', [2]); // a vector: no weight decay
  ps.get('w').value.data.set([0.5, -1, 2]);
  ps.get('b').value.data.set([0.25, 3]);
  return ps;
}

describe('AdamW', () => {
  for (const clipNorm of [0, 1]) {
    for (const bad of [NaN, Infinity]) {
      it(`refuses a ${bad} gradient with clipping ${clipNorm ? 'on' : 'off'}, leaving weights, moments and step as they were`, () => {
        const ps = twoParams();
        const opt = new AdamW(ps, { lr: 0.1, weightDecay: 0, clipNorm });
        ps.get('w').grad.data.set([0.1, 0.2, 0.3]);
        ps.get('b').grad.data.set([-0.4, 0.5]);
        opt.update(0.1); // one good step so the moments are not zero
        const values = Float32Array.from(ps.values.data);
        const m = Float32Array.from(opt.m.data);
        const v = Float32Array.from(opt.v.data);
        ps.get('b').grad.data[1] = bad;
        expect(() => opt.update(0.1)).toThrow(NonFiniteError);
        expect(() => opt.update(0.1)).toThrow(/gradient norm is (NaN|Infinity)/);
        expect(ps.values.data).toEqual(values);
        expect(opt.m.data).toEqual(m);
        expect(opt.v.data).toEqual(v);
        expect(opt.step).toBe(1);
      });
    }
  }

  it('one step without clipping matches the AdamW formula in float64', () => {
    const ps = twoParams();
    const opt = new AdamW(ps, { lr: 0.1, weightDecay: 0.05, clipNorm: 0 });
    const g = [0.1, 0.2, 0.3];
    ps.get('w').grad.data.set(g);
    ps.get('b').grad.data.set([-0.4, 0.5]);
    const w0 = [0.5, -1, 2];
    const report = opt.update(0.1);
    expect(report.gradNorm).toBeCloseTo(Math.hypot(0.1, 0.2, 0.3, -0.4, 0.5), 6);
    // step 1: m̂ = g, v̂ = g², update = g / (|g| + eps); decoupled decay lr·wd·w (weights decay, biases do not)
    const expected = w0.map((w, i) => w - 0.1 * (g[i] as number) / (Math.abs(g[i] as number) + 1e-8) - 0.1 * 0.05 * w);
    ps.get('w').value.data.forEach((x, i) => expect(x).toBeCloseTo(expected[i] as number, 6));
  });
});
