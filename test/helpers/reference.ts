// Plain float64 implementations of every kernel, written from the formulas in
// docs/design.md (and PyTorch's documented semantics), independent of the native code.
// Gradients are checked against finite differences of these forwards.
type A = ArrayLike<number>;

export function matmulRef(a: A, b: A, M: number, N: number, K: number, transA = false, transB = false): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const x = transA ? (a[k * M + i] as number) : (a[i * K + k] as number);
        const y = transB ? (b[j * K + k] as number) : (b[k * N + j] as number);
        s += x * y;
      }
      c[i * N + j] = s;
    }
  return c;
}

/** Softmax-attention of one batch of [B, H, N, D]; returns out, lse and the probabilities. */
export function attentionRef(q: A, k: A, v: A, B: number, H: number, N: number, D: number, scale = 1 / Math.sqrt(D)) {
  const out = new Float64Array(B * H * N * D);
  const lse = new Float64Array(B * H * N);
  const P = new Float64Array(B * H * N * N);
  for (let bh = 0; bh < B * H; bh++) {
    const o = bh * N * D;
    for (let i = 0; i < N; i++) {
      const row = new Float64Array(N);
      let m = -Infinity;
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += (q[o + i * D + d] as number) * (k[o + j * D + d] as number);
        row[j] = s * scale;
        m = Math.max(m, row[j] as number);
      }
      let z = 0;
      for (let j = 0; j < N; j++) z += Math.exp((row[j] as number) - m);
      lse[bh * N + i] = m + Math.log(z);
      for (let j = 0; j < N; j++) {
        const p = Math.exp((row[j] as number) - (lse[bh * N + i] as number));
        P[(bh * N + i) * N + j] = p;
        for (let d = 0; d < D; d++) out[o + i * D + d] = (out[o + i * D + d] as number) + p * (v[o + j * D + d] as number);
      }
    }
  }
  return { out, lse, P };
}

export function attentionBackwardRef(q: A, k: A, v: A, dout: A, B: number, H: number, N: number, D: number, scale = 1 / Math.sqrt(D)) {
  const { P } = attentionRef(q, k, v, B, H, N, D, scale);
  const dq = new Float64Array(B * H * N * D);
  const dk = new Float64Array(B * H * N * D);
  const dv = new Float64Array(B * H * N * D);
  for (let bh = 0; bh < B * H; bh++) {
    const o = bh * N * D;
    for (let i = 0; i < N; i++) {
      const dP = new Float64Array(N);
      let rowDot = 0;
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += (dout[o + i * D + d] as number) * (v[o + j * D + d] as number);
        dP[j] = s;
        rowDot += (P[(bh * N + i) * N + j] as number) * s;
      }
      for (let j = 0; j < N; j++) {
        const p = P[(bh * N + i) * N + j] as number;
        const dS = p * ((dP[j] as number) - rowDot) * scale;
        for (let d = 0; d < D; d++) {
          dv[o + j * D + d] = (dv[o + j * D + d] as number) + p * (dout[o + i * D + d] as number);
          dq[o + i * D + d] = (dq[o + i * D + d] as number) + dS * (k[o + j * D + d] as number);
          dk[o + j * D + d] = (dk[o + j * D + d] as number) + dS * (q[o + i * D + d] as number);
        }
      }
    }
  }
  return { dq, dk, dv };
}

/** docs/design.md's attention distance and entropy, per [B, H], CLS (prefix) excluded, no renormalisation. */
export function attentionStatsRef(q: A, k: A, B: number, H: number, N: number, D: number, prefix: number, gridW: number, patchPx: number) {
  const { P } = attentionRef(q, k, q, B, H, N, D);
  const distance = new Float64Array(B * H);
  const entropy = new Float64Array(B * H);
  const count = N - prefix;
  for (let bh = 0; bh < B * H; bh++) {
    let ds = 0;
    let es = 0;
    for (let i = prefix; i < N; i++)
      for (let j = prefix; j < N; j++) {
        const a = P[(bh * N + i) * N + j] as number;
        const pi = i - prefix;
        const pj = j - prefix;
        const dy = Math.floor(pi / gridW) - Math.floor(pj / gridW);
        const dx = (pi % gridW) - (pj % gridW);
        ds += a * patchPx * Math.hypot(dx, dy);
        if (a > 0) es -= a * Math.log(a);
      }
    distance[bh] = ds / count;
    entropy[bh] = es / count;
  }
  return { distance, entropy };
}

export function layerNormRef(x: A, gamma: A, beta: A, rows: number, cols: number, eps: number) {
  const y = new Float64Array(rows * cols);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c] as number;
    const mu = s / cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += ((x[r * cols + c] as number) - mu) ** 2;
    const rs = 1 / Math.sqrt(v / cols + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let c = 0; c < cols; c++) y[r * cols + c] = ((x[r * cols + c] as number) - mu) * rs * (gamma[c] as number) + (beta[c] as number);
  }
  return { y, mean, rstd };
}

/** Probability density and distribution of the standard normal via erf (Abramowitz-Stegun 7.1.26 is too coarse; use a series). */
export function erfRef(x: number): number {
  // Maclaurin series for |x| < 3, continued fraction beyond: both exact to ~1e-15.
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc by Lentz's continued fraction
  let f = ax;
  let C = ax;
  let Dd = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    Dd = ax + an * Dd;
    Dd = 1 / Dd;
    C = ax + an / C;
    const delta = C * Dd;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / (Math.sqrt(Math.PI) * f);
  return Math.sign(x) * (1 - erfc);
}

export function geluRef(x: number, kind: 'erf' | 'tanh' | 'quick'): number {
  if (kind === 'erf') return 0.5 * x * (1 + erfRef(x / Math.SQRT2));
  if (kind === 'tanh') return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  return x / (1 + Math.exp(-1.702 * x));
}

export function softmaxRef(x: A, rows: number, cols: number, T = 1): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, (x[r * cols + c] as number) / T);
    let z = 0;
    for (let c = 0; c < cols; c++) z += y[r * cols + c] = Math.exp((x[r * cols + c] as number) / T - m);
    for (let c = 0; c < cols; c++) y[r * cols + c] = (y[r * cols + c] as number) / z;
  }
  return y;
}

export function alignLossRef(
  s: A, t: A, B: number, D: number, kind: 'cosine' | 'mse' | 'smooth-l1', normalize: boolean, beta = 1, weights?: A,
): number {
  let total = 0;
  for (let i = 0; i < B; i++) {
    let ns = 0;
    let nt = 0;
    let dot = 0;
    for (let d = 0; d < D; d++) {
      const a = s[i * D + d] as number;
      const b = t[i * D + d] as number;
      ns += a * a;
      nt += b * b;
      dot += a * b;
    }
    ns = Math.sqrt(ns);
    nt = Math.sqrt(nt);
    let l = 0;
    if (kind === 'cosine') l = 1 - dot / (ns * nt);
    else {
      for (let d = 0; d < D; d++) {
        const a = (s[i * D + d] as number) / (normalize ? ns : 1);
        const b = (t[i * D + d] as number) / (normalize ? nt : 1);
        const x = a - b;
        l += kind === 'mse' ? x * x : Math.abs(x) < beta ? (0.5 * x * x) / beta : Math.abs(x) - 0.5 * beta;
      }
      l /= D;
    }
    total += (weights ? (weights[i] as number) : 1) * l;
  }
  return total / B;
}

export function emdRef(p: A, q: A, B: number, K: number, r = 2, squared = false, eps = 0, weights?: A): number {
  let total = 0;
  for (let i = 0; i < B; i++) {
    let P = 0;
    let Q = 0;
    let s = 0;
    for (let k = 0; k < K; k++) {
      P += p[i * K + k] as number;
      Q += q[i * K + k] as number;
      s += Math.abs(P - Q) ** r;
    }
    const l = squared ? s / K : (s / K + eps) ** (1 / r);
    total += (weights ? (weights[i] as number) : 1) * l;
  }
  return total / B;
}

export function distillRef(student: A, teacher: A, B: number, K: number, T: number, kind: 'kl' | 'soft-ce'): number {
  const ps = softmaxRef(student, B, K, T);
  const pt = softmaxRef(teacher, B, K, T);
  let total = 0;
  for (let i = 0; i < B * K; i++) {
    const p = pt[i] as number;
    const lq = Math.log(ps[i] as number);
    total += kind === 'kl' ? p * (Math.log(p) - lq) : -p * lq;
  }
  return (T * T * total) / B;
}

/** Pearson correlation, two-pass in float64. */
export function pearsonRef(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (x[i] as number) - mx;
    const dy = (y[i] as number) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** Ranks 1..n, ties sharing their mean rank (by counting, not sorting). */
export function averageRanksRef(x: readonly number[]): number[] {
  return x.map((v) => {
    const below = x.filter((u) => u < v).length;
    const equal = x.filter((u) => u === v).length;
    return below + (equal + 1) / 2;
  });
}

/** Spearman correlation: Pearson of the average ranks. */
export function spearmanRef(x: readonly number[], y: readonly number[]): number {
  return pearsonRef(averageRanksRef(x), averageRanksRef(y));
}
