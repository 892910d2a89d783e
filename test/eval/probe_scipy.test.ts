// The ridge probe against numpy/scipy (Debian python3-scipy; skipped when
// /usr/bin/python3 lacks it): the ridge solution through the SVD of the
// standardised features, w = V diag(s / (s² + λ)) Uᵀ(y − ȳ), and through
// scipy.linalg.lstsq on the augmented system [Z; √λ I] w = [y − ȳ; 0]; the
// cross-validated λ over the default grid n·10^k; and the probe's SRCC
// against scipy.stats.spearmanr of numpy's predictions. Both regimes: more
// rows than features and more features than rows, each with a constant column.
import { spawnSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { chooseLambda, ridgeFit, ridgePredict, ridgeProbe } from '../../src/eval/probe.js';
import { Rng } from '../../src/util/rng.js';

const python = '/usr/bin/python3';
const hasScipy = spawnSync(python, ['-c', 'import numpy, scipy'], { stdio: 'ignore' }).status === 0;

const SCRIPT = String.raw`
import json, sys
import numpy as np
from scipy import linalg, stats
d = json.load(sys.stdin)
X, y, Xt, yt = (np.array(d[k], dtype=np.float64) for k in ("X", "y", "Xt", "yt"))
n = X.shape[0]
mu, sd = X.mean(0), X.std(0)
keep = sd > 0
def z(A):
    out = np.zeros_like(A)
    out[:, keep] = (A[:, keep] - mu[keep]) / sd[keep]
    return out
def fit(Z, yc, lam):
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    return Vt.T @ ((s / (s * s + lam)) * (U.T @ yc))
Z, ybar = z(X), y.mean()
fixed = {}
for lam in d["lambdas"]:
    w = fit(Z, y - ybar, lam)
    aug = np.vstack([Z, np.sqrt(lam) * np.eye(Z.shape[1])])
    w2 = linalg.lstsq(aug, np.concatenate([y - ybar, np.zeros(Z.shape[1])]))[0]
    fixed[str(lam)] = [(ybar + z(Xt) @ w).tolist(), (ybar + z(Xt) @ w2).tolist()]
# Cross-validation over the default grid, on the folds given (each fold standardised on its own training rows).
folds = np.array(d["folds"])
grid = [n * 10.0 ** k for k in range(-4, 4)]
cv = []
for lam in grid:
    err = 0.0
    for f in range(folds.max() + 1):
        tr, te = folds != f, folds == f
        m, s = X[tr].mean(0), X[tr].std(0)
        k = s > 0
        zz = lambda A: np.where(k, (A - m) / np.where(k, s, 1), 0)
        yb = y[tr].mean()
        w = fit(zz(X[tr]), y[tr] - yb, lam)
        err += float(((yb + zz(X[te]) @ w - y[te]) ** 2).sum())
    cv.append(err)
best = grid[int(np.argmin(cv))]
pred = ybar + z(Xt) @ fit(Z, y - ybar, best)
print(json.dumps({"fixed": fixed, "lambda": best, "cv": cv, "srcc": float(stats.spearmanr(pred, yt)[0])}))
`;

function problem(n: number, d: number, seed: number) {
  const rng = new Rng(seed);
  const X = Array.from({ length: n }, () => Array.from({ length: d }, (_, j) => rng.normal() * (1 + (j % 4)) + j));
  for (const r of X) r[1] = 2.5; // a constant column: left out on both sides
  // A label carried by a few columns, with noise: the cross-validated λ lands inside the grid.
  const w = Array.from({ length: d }, (_, j) => (j % 5 === 0 ? rng.normal() : 0));
  const y = X.map((r) => r.reduce((s, v, j) => s + v * w[j]!, 0) + 0.5 * rng.normal());
  return { X, y };
}

const matrix = (rows: number[][]) => ({ data: Float64Array.from(rows.flat()), n: rows.length, d: rows[0]!.length });

describe.skipIf(!hasScipy)('ridge probe against numpy/scipy (python3-scipy)', () => {
  it.each([
    ['more rows than features (primal)', 48, 7],
    ['more features than rows (dual)', 20, 45],
  ])('%s: solution, λ choice and SRCC', (_, n, d) => {
    const { X, y } = problem(n, d, n + d);
    const t = problem(25, d, 99);
    const lambdas = [0.05, 3, 200];
    // chooseLambda's folds: fold f holds the rows at positions p ≡ f (mod 5) of a seed-0 shuffle.
    const order = new Rng(0).shuffle(Array.from({ length: n }, (_, i) => i));
    const folds = new Array<number>(n);
    order.forEach((row, p) => (folds[row] = p % 5));
    const r = spawnSync(python, ['-c', SCRIPT], { input: JSON.stringify({ X, y, Xt: t.X, yt: t.y, lambdas, folds }), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const want = JSON.parse(r.stdout) as { fixed: Record<string, [number[], number[]]>; lambda: number; cv: number[]; srcc: number };
    for (const lambda of lambdas) {
      const got = ridgePredict(ridgeFit(matrix(X), y, lambda), matrix(t.X));
      const [svd, lstsq] = want.fixed[String(lambda)]!;
      got.forEach((v, i) => {
        expect(Math.abs(v - svd[i]!), `λ ${lambda}, row ${i} (SVD)`).toBeLessThan(1e-8 * (1 + Math.abs(svd[i]!)));
        expect(Math.abs(v - lstsq[i]!), `λ ${lambda}, row ${i} (lstsq)`).toBeLessThan(1e-8 * (1 + Math.abs(lstsq[i]!)));
      });
    }
    // The problem must make the choice informative: the cross-validated errors differ across the grid.
    expect(Math.max(...want.cv) / Math.min(...want.cv)).toBeGreaterThan(1.05);
    expect(chooseLambda(matrix(X), y, { seed: 0 })).toBe(want.lambda);
    const probe = ridgeProbe({ X: matrix(X), y }, [{ name: 'test', X: matrix(t.X), y: t.y }], { seed: 0, bootstrap: 10 });
    expect(probe.lambda).toBe(want.lambda);
    expect(probe.splits[0]!.srcc).toBeCloseTo(want.srcc, 10);
  });
});
