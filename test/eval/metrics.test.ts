import { spawnSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import {
  averageRanks,
  binaryAccuracy,
  distributionMoments,
  krcc,
  mae,
  meanEmd,
  meanScores,
  plcc,
  rmse,
  scoreReport,
  srcc,
} from '../../src/eval/metrics.js';
import { Rng } from '../helpers/numeric.js';

/** O(n²) tau-b straight from the definition, ties counted pair by pair. */
function tauBBrute(x: number[], y: number[]): number {
  let c = 0;
  let d = 0;
  let tx = 0;
  let ty = 0;
  for (let i = 0; i < x.length; i++)
    for (let j = i + 1; j < x.length; j++) {
      const a = Math.sign(x[i]! - x[j]!);
      const b = Math.sign(y[i]! - y[j]!);
      if (a === 0 && b === 0) continue;
      if (a === 0) tx++;
      else if (b === 0) ty++;
      else if (a === b) c++;
      else d++;
    }
  return (c - d) / Math.sqrt((c + d + tx) * (c + d + ty));
}

describe('hand-worked cases', () => {
  it('x = [1,2,3], y = [1,3,2]: SRCC = PLCC = 1 − 6·2/24 = 0.5, KRCC = (2 − 1)/3', () => {
    expect(srcc([1, 2, 3], [1, 3, 2])).toBeCloseTo(0.5, 12);
    expect(plcc([1, 2, 3], [1, 3, 2])).toBeCloseTo(0.5, 12);
    expect(krcc([1, 2, 3], [1, 3, 2])).toBeCloseTo(1 / 3, 12);
  });
  it('with ties, x = [1,2,2,3], y = [1,2,3,3]: KRCC = 4/√(5·5) = 0.8, SRCC = 3.75/4.5', () => {
    expect(averageRanks([1, 2, 2, 3])).toEqual(Float64Array.from([1, 2.5, 2.5, 4]));
    expect(krcc([1, 2, 2, 3], [1, 2, 3, 3])).toBeCloseTo(0.8, 12);
    expect(srcc([1, 2, 2, 3], [1, 2, 3, 3])).toBeCloseTo(3.75 / 4.5, 12);
  });
  it('a pair tied in both x and y counts in neither denominator term: x = [1,1,2], y = [5,5,6]', () => {
    // pairs: (0,1) tied in both; (0,2), (1,2) concordant → n0 − n1 = 2, n0 − n2 = 2, tau_b = 2/2 = 1.
    expect(krcc([1, 1, 2], [5, 5, 6])).toBeCloseTo(1, 12);
  });
  it('perfect inversions give −1; constants give NaN', () => {
    expect(krcc([1, 2, 3, 4], [8, 6, 4, 2])).toBeCloseTo(-1, 12);
    expect(srcc([1, 2, 3, 4], [8, 6, 4, 2])).toBeCloseTo(-1, 12);
    expect(plcc([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(krcc([1, 1, 1], [1, 2, 3])).toBeNaN();
  });
  it('RMSE and MAE of errors 1, 0, 2', () => {
    expect(mae([1, 2, 3], [2, 2, 5])).toBeCloseTo(1, 12);
    expect(rmse([1, 2, 3], [2, 2, 5])).toBeCloseTo(Math.sqrt(5 / 3), 12);
  });
  it('binary accuracy at 5 (≥ is high) and at a custom threshold', () => {
    expect(binaryAccuracy([4.9, 5, 6, 3], [5.1, 4.9, 7, 2])).toBe(0.5);
    expect(binaryAccuracy([0.4, 0.6], [0.45, 0.7], 0.5)).toBe(1);
  });
  it('EMD between point masses at the ends of 2 bins: √(1/2) for r = 2, 1/2 for r = 1', () => {
    expect(meanEmd([1, 0, 0.5, 0.5], [0, 1, 0.5, 0.5], 2)).toBeCloseTo(Math.SQRT1_2 / 2, 12);
    expect(meanEmd([1, 0], [0, 1], 2, 1)).toBeCloseTo(0.5, 12);
  });
  it('distribution moments and mean scores', () => {
    expect(distributionMoments([0.5, 0.5], [1, 3])).toEqual({ mean: 2, std: 1 });
    expect(distributionMoments([2, 0, 2], [1, 2, 3])).toEqual({ mean: 2, std: 1 }); // unnormalised counts
    expect(meanScores([0, 1, 0, 0.25, 0.5, 0.25], [1, 2, 3])).toEqual(Float64Array.from([2, 2]));
  });
  it('mismatched lengths are a RangeError', () => {
    expect(() => srcc([1, 2], [1])).toThrow(RangeError);
    expect(() => meanEmd([1, 0, 0], [0, 1, 0], 2)).toThrow(RangeError);
  });
});

describe('against brute force and scipy on tie-heavy data', () => {
  const rng = new Rng(11);
  const n = 400;
  // Scores on a coarse grid so there are many ties, correlated with noise.
  const target = Array.from({ length: n }, () => Math.round(rng.uniform() * 20) / 2);
  const pred = target.map((t) => Math.round((t + rng.normal() * 2) * 2) / 2);

  it('KRCC equals the O(n²) definition', () => {
    expect(krcc(pred, target)).toBeCloseTo(tauBBrute(pred, target), 12);
  });

  const probe = spawnSync('/usr/bin/python3', ['-c', 'import scipy'], { encoding: 'utf8' });
  it.skipIf(probe.status !== 0)('SRCC, PLCC, KRCC match scipy.stats (python3-scipy)', () => {
    const script = [
      'import json, sys',
      'from scipy import stats',
      'd = json.load(sys.stdin)',
      'x, y = d["x"], d["y"]',
      'print(json.dumps([stats.spearmanr(x, y)[0], stats.pearsonr(x, y)[0], stats.kendalltau(x, y)[0]]))',
    ].join('\n');
    const r = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify({ x: pred, y: target }), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const [s, p, k] = JSON.parse(r.stdout) as number[];
    const report = scoreReport(pred, target);
    expect(report.srcc).toBeCloseTo(s!, 12);
    expect(report.plcc).toBeCloseTo(p!, 12);
    expect(report.krcc).toBeCloseTo(k!, 12);
  });
});
