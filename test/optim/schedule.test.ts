import { describe, expect, it } from 'vitest';

import { cosineLr, layerDecayScale } from '../../src/optim/schedule.js';

describe('schedules', () => {
  it('warm-up is linear, then cosine reaches minLr at the last step', () => {
    const s = { lr: 1e-3, totalSteps: 110, warmupSteps: 10, minLr: 1e-5 };
    expect(cosineLr(s, 0)).toBeCloseTo(1e-4, 12);
    expect(cosineLr(s, 9)).toBeCloseTo(1e-3, 12);
    expect(cosineLr(s, 10)).toBeCloseTo(1e-3, 12);
    // halfway through the cosine: the mean of lr and minLr
    expect(cosineLr(s, 60)).toBeCloseTo((1e-3 + 1e-5) / 2, 12);
    expect(cosineLr(s, 110)).toBeCloseTo(1e-5, 12);
  });
  it('layer-wise decay gives the head 1 and the embeddings decay^(depth+1)', () => {
    const f = layerDecayScale(0.75, 12);
    expect(f(13)).toBe(1);
    expect(f(12)).toBeCloseTo(0.75, 12);
    expect(f(0)).toBeCloseTo(0.75 ** 13, 12);
  });
});
