import { describe, expect, it } from 'vitest';

import { embedTokensBackward, embedTokensForward, patchify, patchifyBackward, poolBackward, poolForward } from '../../src/ops/embedding.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Rng, expectClose, f64, poisoned, tensorOf } from '../helpers/numeric.js';

describe('patchify', () => {
  const rng = new Rng(9);
  it('lays out patches in Conv2d weight order and its backward is the adjoint', () => {
    const [B, C, H, W, p] = [2, 3, 24, 40, 8];
    const img = tensorOf(rng.normals(B * C * H * W), [B, C, H, W]);
    const gh = H / p;
    const gw = W / p;
    const patches = poisoned([B, gh * gw, C * p * p]);
    patchify(img, p, patches);
    // Direct definition: patch (b, py, px), element (c, y, x) = img[b, c, py*p + y, px*p + x].
    const ref = new Float64Array(patches.size);
    for (let b = 0; b < B; b++)
      for (let py = 0; py < gh; py++)
        for (let px = 0; px < gw; px++)
          for (let c = 0; c < C; c++)
            for (let y = 0; y < p; y++)
              for (let x = 0; x < p; x++)
                ref[((b * gh + py) * gw + px) * C * p * p + (c * p + y) * p + x] = img.data[((b * C + c) * H + py * p + y) * W + px * p + x] as number;
    expect(Array.from(patches.data)).toEqual(Array.from(Float32Array.from(ref)));
    // Adjoint: <patchify(x), g> = <x, patchifyBackward(g)>
    const g = tensorOf(rng.normals(patches.size), patches.shape);
    const dimg = poisoned([B, C, H, W]);
    patchifyBackward(g, p, dimg);
    const lhs = f64(patches).reduce((s, v, i) => s + v * (g.data[i] as number), 0);
    const rhs = f64(img).reduce((s, v, i) => s + v * (dimg.data[i] as number), 0);
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-3 * Math.abs(lhs) + 1e-6);
  });
  it('rejects images that are not whole patches', () => {
    expect(() => patchify(Tensor.zeros([1, 3, 20, 16]), 8, Tensor.zeros([1, 4, 192]))).toThrow(/not a whole number of 8-px patches/);
  });
});

describe('tokens and pooling', () => {
  const rng = new Rng(10);
  it('embedTokens forward and backward', () => {
    const [B, P, E] = [3, 16, 12];
    const patches = tensorOf(rng.normals(B * P * E), [B, P, E]);
    const cls = tensorOf(rng.normals(E), [1, 1, E]);
    const pos = tensorOf(rng.normals((P + 1) * E), [1, P + 1, E]);
    const out = poisoned([B, P + 1, E]);
    embedTokensForward(patches, cls, pos, out);
    const ref = new Float64Array(out.size);
    for (let b = 0; b < B; b++)
      for (let n = 0; n <= P; n++)
        for (let e = 0; e < E; e++)
          ref[(b * (P + 1) + n) * E + e] = (n === 0 ? (cls.data[e] as number) : (patches.data[(b * P + n - 1) * E + e] as number)) + (pos.data[n * E + e] as number);
    expectClose(out.data, ref, 1e-7, 'out');
    const dout = tensorOf(rng.normals(out.size), out.shape);
    const dpatches = poisoned([B, P, E]);
    const dcls = tensorOf(rng.normals(E), [E]);
    const dpos = Tensor.zeros([P + 1, E]);
    const dcls0 = f64(dcls);
    embedTokensBackward(dout, dpatches, dcls, dpos);
    const rp = new Float64Array(B * P * E);
    const rc = Float64Array.from(dcls0);
    const rpos = new Float64Array((P + 1) * E);
    for (let b = 0; b < B; b++)
      for (let n = 0; n <= P; n++)
        for (let e = 0; e < E; e++) {
          const gv = dout.data[(b * (P + 1) + n) * E + e] as number;
          rpos[n * E + e] = (rpos[n * E + e] as number) + gv;
          if (n === 0) rc[e] = (rc[e] as number) + gv;
          else rp[(b * P + n - 1) * E + e] = gv;
        }
    expectClose(dpatches.data, rp, 1e-7, 'dpatches');
    expectClose(dcls.data, rc, 1e-6, 'dcls');
    expectClose(dpos.data, rpos, 1e-6, 'dpos');
  });
  for (const pooling of ['cls', 'mean'] as const) {
    it(`${pooling} pooling forward and backward`, () => {
      const [B, N, E] = [4, 17, 10];
      const x = tensorOf(rng.normals(B * N * E), [B, N, E]);
      const out = poisoned([B, E]);
      poolForward(x, out, pooling);
      const ref = new Float64Array(B * E);
      const dref = new Float64Array(B * N * E);
      const dout = tensorOf(rng.normals(B * E), [B, E]);
      for (let b = 0; b < B; b++)
        for (let e = 0; e < E; e++) {
          if (pooling === 'cls') {
            ref[b * E + e] = x.data[b * N * E + e] as number;
            dref[b * N * E + e] = dout.data[b * E + e] as number;
          } else {
            for (let n = 1; n < N; n++) {
              ref[b * E + e] = (ref[b * E + e] as number) + (x.data[(b * N + n) * E + e] as number) / (N - 1);
              dref[(b * N + n) * E + e] = (dout.data[b * E + e] as number) / (N - 1);
            }
          }
        }
      expectClose(out.data, ref, 1e-6, 'out');
      const dx = poisoned([B, N, E]);
      poolBackward(dout, dx, pooling);
      expectClose(dx.data, dref, 1e-6, 'dx');
    });
  }
});
