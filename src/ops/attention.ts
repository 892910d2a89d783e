// Multi-head attention. Two layouts: separate q, k, v as [B, H, N, D] (what
// PyTorch's scaled_dot_product_attention takes), and the packed output of a
// qkv Linear, [B, N, 3 * H * D], read in place with strides, writing [B, N, H * D].
import { native } from '../native.js';
import { expectSameDevice, expectPositiveInt, expectShape, shapeString } from '../tensor/check.js';
import { type Tensor, subrange } from '../tensor/tensor.js';
import { bf16 } from './precision.js';

interface Layout {
  dims: Float64Array;
  qkvStrides: Float64Array;
  outStrides: Float64Array;
  qOff: number;
  kOff: number;
  vOff: number;
}

function separateLayout(B: number, H: number, N: number, D: number): Layout {
  const s = new Float64Array([H * N * D, N * D, D]);
  return { dims: new Float64Array([B, H, N, D]), qkvStrides: s, outStrides: s, qOff: 0, kOff: 0, vOff: 0 };
}

function packedLayout(B: number, H: number, N: number, D: number): Layout {
  const C = H * D;
  return {
    dims: new Float64Array([B, H, N, D]),
    qkvStrides: new Float64Array([N * 3 * C, D, 3 * C]),
    outStrides: new Float64Array([N * C, D, C]),
    qOff: 0,
    kOff: C,
    vOff: 2 * C,
  };
}

function defaultScale(D: number, scale: number | undefined): number {
  return scale ?? 1 / Math.sqrt(D);
}

export interface AttentionTensors {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  /** [B, H, N, D] */
  out: Tensor;
  /** [B, H, N]: log-sum-exp of each scaled score row, for the backward. */
  lse: Tensor;
}

export function attentionForward(t: AttentionTensors, scale?: number): void {
  const op = 'attentionForward';
  expectSameDevice(op, { ...t });
  const [B, H, N, D] = expectShape(op, 'q', t.q, [null, null, null, null]).shape as [number, number, number, number];
  for (const name of ['k', 'v', 'out'] as const) expectShape(op, name, t[name], [B, H, N, D]);
  expectShape(op, 'lse', t.lse, [B, H, N]);
  const L = separateLayout(B, H, N, D);
  native.attentionForward(t.q.storage, t.k.storage, t.v.storage, t.out.storage, t.lse.storage, L.dims, L.qkvStrides, L.outStrides, defaultScale(D, scale), bf16());
}

export interface AttentionGrads {
  dout: Tensor;
  dq: Tensor;
  dk: Tensor;
  dv: Tensor;
}

/** Writes dq, dk, dv (overwriting them). */
export function attentionBackward(t: AttentionTensors, g: AttentionGrads, scale?: number): void {
  const op = 'attentionBackward';
  expectSameDevice(op, { ...t, ...g });
  const [B, H, N, D] = expectShape(op, 'q', t.q, [null, null, null, null]).shape as [number, number, number, number];
  for (const name of ['k', 'v', 'out'] as const) expectShape(op, name, t[name], [B, H, N, D]);
  for (const name of ['dout', 'dq', 'dk', 'dv'] as const) expectShape(op, name, g[name], [B, H, N, D]);
  expectShape(op, 'lse', t.lse, [B, H, N]);
  const L = separateLayout(B, H, N, D);
  native.attentionBackward(
    t.q.storage, t.k.storage, t.v.storage, t.out.storage, g.dout.storage, t.lse.storage, g.dq.storage, g.dk.storage, g.dv.storage,
    L.dims, L.qkvStrides, L.outStrides, defaultScale(D, scale), bf16(),
  );
}

function packedShape(op: string, qkv: Tensor, heads: number): [number, number, number, number] {
  expectPositiveInt(op, 'heads', heads);
  const [B, N, C3] = expectShape(op, 'qkv', qkv, [null, null, null]).shape as [number, number, number];
  if (C3 % (3 * heads) !== 0) throw new RangeError(`${op}: qkv ${shapeString(qkv.shape)} last dimension is not 3 × heads(${heads}) × headDim`);
  return [B, heads, N, C3 / (3 * heads)];
}

/** Attention over a packed qkv [B, N, 3C] (C = heads × D); out [B, N, C], lse [B, heads, N]. */
export function attentionForwardPacked(qkv: Tensor, heads: number, out: Tensor, lse: Tensor, scale?: number): void {
  const op = 'attentionForwardPacked';
  expectSameDevice(op, { qkv, out, lse });
  const [B, H, N, D] = packedShape(op, qkv, heads);
  expectShape(op, 'out', out, [B, N, H * D]);
  expectShape(op, 'lse', lse, [B, H, N]);
  const L = packedLayout(B, H, N, D);
  const d = qkv.storage;
  native.attentionForward(subrange(d, L.qOff), subrange(d, L.kOff), subrange(d, L.vOff), out.storage, lse.storage, L.dims, L.qkvStrides, L.outStrides, defaultScale(D, scale), bf16());
}

/** Backward of attentionForwardPacked; writes the whole dqkv [B, N, 3C]. */
export function attentionBackwardPacked(
  qkv: Tensor, heads: number, out: Tensor, lse: Tensor, dout: Tensor, dqkv: Tensor, scale?: number,
): void {
  const op = 'attentionBackwardPacked';
  expectSameDevice(op, { qkv, out, lse, dout, dqkv });
  const [B, H, N, D] = packedShape(op, qkv, heads);
  expectShape(op, 'out', out, [B, N, H * D]);
  expectShape(op, 'dout', dout, [B, N, H * D]);
  expectShape(op, 'dqkv', dqkv, [B, N, 3 * H * D]);
  expectShape(op, 'lse', lse, [B, H, N]);
  const L = packedLayout(B, H, N, D);
  const d = qkv.storage;
  const g = dqkv.storage;
  native.attentionBackward(
    subrange(d, L.qOff), subrange(d, L.kOff), subrange(d, L.vOff), out.storage, dout.storage, lse.storage,
    subrange(g, L.qOff), subrange(g, L.kOff), subrange(g, L.vOff), L.dims, L.qkvStrides, L.outStrides, defaultScale(D, scale), bf16(),
  );
}

export interface AttentionStatsOptions {
  /** Leading non-patch tokens (CLS, registers). Default 1. */
  prefix?: number;
  gridH: number;
  gridW: number;
  /** Side of a patch in pixels. Default 16. */
  patchPx?: number;
  scale?: number;
}

export interface AttentionStatsResult {
  /** [B, H] mean attention distance in pixels. */
  distance: Tensor;
  /** [B, H] mean attention entropy (nats). */
  entropy: Tensor;
}

function statsArgs(op: string, opts: AttentionStatsOptions, N: number): [number, number, number, number] {
  const prefix = opts.prefix ?? 1;
  expectPositiveInt(op, 'gridH', opts.gridH);
  expectPositiveInt(op, 'gridW', opts.gridW);
  if (!Number.isInteger(prefix) || prefix < 0 || opts.gridH * opts.gridW + prefix !== N) {
    throw new RangeError(`${op}: ${N} tokens is not prefix(${prefix}) + gridH(${opts.gridH}) × gridW(${opts.gridW})`);
  }
  return [prefix, opts.gridH, opts.gridW, opts.patchPx ?? 16];
}

/** Per-head distance and entropy from q, k as [B, H, N, D] (see docs/design.md for the formulas). */
export function attentionStats(q: Tensor, k: Tensor, opts: AttentionStatsOptions, result: AttentionStatsResult): void {
  const op = 'attentionStats';
  expectSameDevice(op, { q, k, ...result });
  const [B, H, N, D] = expectShape(op, 'q', q, [null, null, null, null]).shape as [number, number, number, number];
  expectShape(op, 'k', k, [B, H, N, D]);
  expectShape(op, 'distance', result.distance, [B, H]);
  expectShape(op, 'entropy', result.entropy, [B, H]);
  const [prefix, gh, gw, px] = statsArgs(op, opts, N);
  const L = separateLayout(B, H, N, D);
  native.attentionStats(q.storage, k.storage, result.distance.storage, result.entropy.storage, L.dims, L.qkvStrides, defaultScale(D, opts.scale), prefix, gh, gw, px);
}

/** attentionStats over a packed qkv [B, N, 3C]. */
export function attentionStatsPacked(qkv: Tensor, heads: number, opts: AttentionStatsOptions, result: AttentionStatsResult): void {
  const op = 'attentionStatsPacked';
  expectSameDevice(op, { qkv, ...result });
  const [B, H, N, D] = packedShape(op, qkv, heads);
  expectShape(op, 'distance', result.distance, [B, H]);
  expectShape(op, 'entropy', result.entropy, [B, H]);
  const [prefix, gh, gw, px] = statsArgs(op, opts, N);
  const L = packedLayout(B, H, N, D);
  const d = qkv.storage;
  native.attentionStats(subrange(d, L.qOff), subrange(d, L.kOff), result.distance.storage, result.entropy.storage, L.dims, L.qkvStrides, defaultScale(D, opts.scale), prefix, gh, gw, px);
}
