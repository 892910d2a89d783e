// Attention forward and backward on tensor cores: bf16 operands, float32
// accumulation and softmax (AttentionPrecision::Bf16).
//
// The FlashAttention-2 scheme with mma.sync m16n8k16 (sm_80+):
//   forward   a block = 4 warps = 64 queries of one (b, h); each warp owns 16
//             query rows, keeps Q's fragments in registers, and walks key tiles
//             of 64 held in shared memory: S = Q K^T (mma), online softmax on
//             the accumulator fragments (row max and sum across the 4 lanes of
//             a quad), then O += P V with P taken straight from S's
//             accumulators (the C-fragment layout of two n-tiles is the
//             A-fragment layout of one k-step) and V read with ldmatrix.trans.
//   backward  delta = rowsum(dout * out) (shared with the float32 path), then
//             dK/dV: a warp owns 16 keys and walks query tiles of 32:
//               S^T = K Q^T, P^T = exp(S^T - lse), dV += P^T dO,
//               dP^T = V dO^T, dS^T = P^T (dP^T - delta), dK += dS^T Q
//             and dQ: a warp owns 16 queries and walks key tiles of 32:
//               S = Q K^T, dP = dO V^T, dS = P (dP - delta), dQ += dS K.
//             Each gradient is written once by its owner: no atomics.
// Inputs stay float32 in global memory (our tensors are float32) and are
// rounded to bf16 on their way into shared memory, so the error is that of
// bf16 operands (~1e-3 relative), the budget mixed precision accepts. Head
// dims are padded with zeros to 32/64/128 as in the float32 path.
#include <cuda_bf16.h>

#include "cuda/attention.h"
#include "cuda/attention_common.cuh"
#include "cuda/common.h"
#include "cuda/mma.cuh"

namespace cskd::cuda::attn {
namespace {

constexpr int kWarps = 4;

// Rows [n0, n0 + rows) of a (b, h) slice as bf16 (times `mul`), zero past N or D.
template <int DP>
__device__ __forceinline__ void loadTileBf16(__nv_bfloat16* tile, const float* base, int64_t sN,
                                             int n0, int rows, int N, int D, float mul) {
  constexpr int RH = DP + 8;
  for (int idx = threadIdx.x; idx < rows * DP; idx += blockDim.x) {
    const int r = idx / DP, d = idx % DP, n = n0 + r;
    const float v = (n < N && d < D) ? base[int64_t(n) * sN + d] * mul : 0.f;
    tile[r * RH + d] = __float2bfloat16_rn(v);
  }
}

// A fragments (16 rows from row0, k-step kk) of a [rows][RH] bf16 tile.
template <int DP>
__device__ __forceinline__ void loadA(uint32_t (&a)[4], const __nv_bfloat16* tile, int row0, int kk,
                                      int lane) {
  ldmatrixX4(a, &tile[(row0 + lane % 16) * (DP + 8) + kk * 16 + (lane / 16) * 8]);
}

// B fragments of two n-tiles (n0 .. n0 + 15) for k-step kk, from a tile stored
// [n][k] (k contiguous): b[0], b[1] for n-tile 0, b[2], b[3] for n-tile 1.
template <int DP>
__device__ __forceinline__ void loadBnk(uint32_t (&b)[4], const __nv_bfloat16* tile, int n0, int kk,
                                        int lane) {
  ldmatrixX4(b,
             &tile[(n0 + lane % 8 + (lane / 16) * 8) * (DP + 8) + kk * 16 + ((lane / 8) % 2) * 8]);
}

// The same from a tile stored [k][n] (n contiguous), with k0 .. k0 + 15 and the
// two n-tiles at columns n0 .. n0 + 15.
template <int DP>
__device__ __forceinline__ void loadBkn(uint32_t (&b)[4], const __nv_bfloat16* tile, int k0, int n0,
                                        int lane) {
  ldmatrixX4Trans(b,
                  &tile[(k0 + lane % 8 + ((lane / 8) % 2) * 8) * (DP + 8) + n0 + (lane / 16) * 8]);
}

__device__ __forceinline__ float quadMax(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quadSum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

template <int DP>
__global__ void __launch_bounds__(kWarps * 32) attentionForwardBf16Kernel(AttentionParams p) {
  constexpr int BQ = kWarps * 16, BK = 64, RH = DP + 8, KS = DP / 16;
  __shared__ __align__(16) __nv_bfloat16 ks[BK * RH];
  __shared__ __align__(16) __nv_bfloat16 vs[BK * RH];
  const int N = int(p.N), D = int(p.D);
  const int64_t b = blockIdx.x / p.H, h = blockIdx.x % p.H;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane / 4, t = lane % 4;
  const int q0 = blockIdx.y * BQ;
  const int64_t off = b * p.qkv_sB + h * p.qkv_sH;

  loadTileBf16<DP>(ks, p.q + off, p.qkv_sN, q0, BQ, N, D, p.scale * kLog2e);
  __syncthreads();
  uint32_t qf[KS][4];
#pragma unroll
  for (int kk = 0; kk < KS; ++kk) loadA<DP>(qf[kk], ks, warp * 16, kk, lane);

  float o[DP / 8][4];
#pragma unroll
  for (int i = 0; i < DP / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};

  for (int kv0 = 0; kv0 < N; kv0 += BK) {
    __syncthreads();
    loadTileBf16<DP>(ks, p.k + off, p.qkv_sN, kv0, BK, N, D, 1.f);
    loadTileBf16<DP>(vs, p.v + off, p.qkv_sN, kv0, BK, N, D, 1.f);
    __syncthreads();
    float s[BK / 8][4];
#pragma unroll
    for (int i = 0; i < BK / 8; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KS; ++kk)
#pragma unroll
      for (int j = 0; j < BK / 16; ++j) {
        uint32_t kb[4];
        loadBnk<DP>(kb, ks, j * 16, kk, lane);
        mmaBf16(s[2 * j], qf[kk], kb[0], kb[1]);
        mmaBf16(s[2 * j + 1], qf[kk], kb[2], kb[3]);
      }
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int i = 0; i < BK / 8; ++i)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        if (kv0 + i * 8 + 2 * t + (c & 1) >= N) s[i][c] = -INFINITY;
        mx[c / 2] = fmaxf(mx[c / 2], s[i][c]);
      }
    float corr[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float mNew = fmaxf(m[r], quadMax(mx[r]));
      corr[r] = exp2f(m[r] - mNew);
      m[r] = mNew;
      l[r] *= corr[r];
    }
#pragma unroll
    for (int i = 0; i < DP / 8; ++i)
#pragma unroll
      for (int c = 0; c < 4; ++c) o[i][c] *= corr[c / 2];
#pragma unroll
    for (int i = 0; i < BK / 8; ++i)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        s[i][c] = exp2f(s[i][c] - m[c / 2]);
        l[c / 2] += s[i][c];
      }
#pragma unroll
    for (int j = 0; j < BK / 16; ++j) {
      const uint32_t pa[4] = {
          packBf16(s[2 * j][0], s[2 * j][1]), packBf16(s[2 * j][2], s[2 * j][3]),
          packBf16(s[2 * j + 1][0], s[2 * j + 1][1]), packBf16(s[2 * j + 1][2], s[2 * j + 1][3])};
#pragma unroll
      for (int dt = 0; dt < DP / 16; ++dt) {
        uint32_t vb[4];
        loadBkn<DP>(vb, vs, j * 16, dt * 16, lane);
        mmaBf16(o[2 * dt], pa, vb[0], vb[1]);
        mmaBf16(o[2 * dt + 1], pa, vb[2], vb[3]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) l[r] = quadSum(l[r]);
  const int64_t bh = b * p.H + h;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int n = q0 + warp * 16 + g + r * 8;
    if (n >= N) continue;
    const float inv = 1.f / l[r];
    float* out = p.out + b * p.o_sB + h * p.o_sH + int64_t(n) * p.o_sN;
#pragma unroll
    for (int i = 0; i < DP / 8; ++i)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int d = i * 8 + 2 * t + c;
        if (d < D) out[d] = o[i][r * 2 + c] * inv;
      }
    if (t == 0) p.lse[bh * N + n] = (m[r] + log2f(l[r])) * kLn2;
  }
}

// dK, dV. Dynamic shared memory: K and V tiles of 64 keys, Q and dO tiles of 32
// queries (bf16, rows of DP + 8), then lse and delta of the query tile.
template <int DP>
__global__ void __launch_bounds__(kWarps * 32)
    attentionBackwardKVBf16Kernel(AttentionParams p, const float* delta) {
  constexpr int BKV = kWarps * 16, BQ = 32, RH = DP + 8, KS = DP / 16;
  extern __shared__ float4 smemRaw[];
  __nv_bfloat16* kS = reinterpret_cast<__nv_bfloat16*>(smemRaw);
  __nv_bfloat16* vS = kS + BKV * RH;
  __nv_bfloat16* qS = vS + BKV * RH;
  __nv_bfloat16* dS = qS + BQ * RH;
  float* lseS = reinterpret_cast<float*>(dS + BQ * RH);
  float* deltaS = lseS + BQ;
  const int N = int(p.N), D = int(p.D);
  const int64_t b = blockIdx.x / p.H, h = blockIdx.x % p.H, bh = blockIdx.x;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane / 4, t = lane % 4;
  const int k0 = blockIdx.y * BKV;
  const int64_t off = b * p.qkv_sB + h * p.qkv_sH, ooff = b * p.o_sB + h * p.o_sH;
  loadTileBf16<DP>(kS, p.k + off, p.qkv_sN, k0, BKV, N, D, p.scale * kLog2e);
  loadTileBf16<DP>(vS, p.v + off, p.qkv_sN, k0, BKV, N, D, 1.f);

  float dk[DP / 8][4], dv[DP / 8][4];
#pragma unroll
  for (int i = 0; i < DP / 8; ++i)
#pragma unroll
    for (int c = 0; c < 4; ++c) dk[i][c] = dv[i][c] = 0.f;

  for (int q0 = 0; q0 < N; q0 += BQ) {
    __syncthreads();
    loadTileBf16<DP>(qS, p.q + off, p.qkv_sN, q0, BQ, N, D, 1.f);
    loadTileBf16<DP>(dS, p.dout + ooff, p.o_sN, q0, BQ, N, D, 1.f);
    if (threadIdx.x < BQ) {
      const int i = q0 + threadIdx.x;
      lseS[threadIdx.x] = i < N ? p.lse[bh * N + i] * kLog2e : INFINITY;
      deltaS[threadIdx.x] = i < N ? delta[bh * N + i] : 0.f;
    }
    __syncthreads();
    // S^T = K Q^T and dP^T = V dO^T: 16 keys x 32 queries per warp.
    float st[BQ / 8][4], dpt[BQ / 8][4];
#pragma unroll
    for (int i = 0; i < BQ / 8; ++i)
#pragma unroll
      for (int c = 0; c < 4; ++c) st[i][c] = dpt[i][c] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KS; ++kk) {
      uint32_t ka[4], va[4];
      loadA<DP>(ka, kS, warp * 16, kk, lane);
      loadA<DP>(va, vS, warp * 16, kk, lane);
#pragma unroll
      for (int j = 0; j < BQ / 16; ++j) {
        uint32_t qb[4], db[4];
        loadBnk<DP>(qb, qS, j * 16, kk, lane);
        loadBnk<DP>(db, dS, j * 16, kk, lane);
        mmaBf16(st[2 * j], ka, qb[0], qb[1]);
        mmaBf16(st[2 * j + 1], ka, qb[2], qb[3]);
        mmaBf16(dpt[2 * j], va, db[0], db[1]);
        mmaBf16(dpt[2 * j + 1], va, db[2], db[3]);
      }
    }
    // P^T and dS^T in place (columns are queries).
#pragma unroll
    for (int i = 0; i < BQ / 8; ++i)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int col = i * 8 + 2 * t + (c & 1);
        const float pt = exp2f(st[i][c] - lseS[col]);
        st[i][c] = pt;
        dpt[i][c] = pt * (dpt[i][c] - deltaS[col]);
      }
      // dV += P^T dO and dK += dS^T Q (k = the 32 queries).
#pragma unroll
    for (int j = 0; j < BQ / 16; ++j) {
      const uint32_t pa[4] = {packBf16(st[2 * j][0], st[2 * j][1]),
                              packBf16(st[2 * j][2], st[2 * j][3]),
                              packBf16(st[2 * j + 1][0], st[2 * j + 1][1]),
                              packBf16(st[2 * j + 1][2], st[2 * j + 1][3])};
      const uint32_t sa[4] = {packBf16(dpt[2 * j][0], dpt[2 * j][1]),
                              packBf16(dpt[2 * j][2], dpt[2 * j][3]),
                              packBf16(dpt[2 * j + 1][0], dpt[2 * j + 1][1]),
                              packBf16(dpt[2 * j + 1][2], dpt[2 * j + 1][3])};
#pragma unroll
      for (int dt = 0; dt < DP / 16; ++dt) {
        uint32_t ob[4], qb[4];
        loadBkn<DP>(ob, dS, j * 16, dt * 16, lane);
        loadBkn<DP>(qb, qS, j * 16, dt * 16, lane);
        mmaBf16(dv[2 * dt], pa, ob[0], ob[1]);
        mmaBf16(dv[2 * dt + 1], pa, ob[2], ob[3]);
        mmaBf16(dk[2 * dt], sa, qb[0], qb[1]);
        mmaBf16(dk[2 * dt + 1], sa, qb[2], qb[3]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int n = k0 + warp * 16 + g + r * 8;
    if (n >= N) continue;
    const int64_t o = off + int64_t(n) * p.qkv_sN;
#pragma unroll
    for (int i = 0; i < DP / 8; ++i)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int d = i * 8 + 2 * t + c;
        if (d < D) {
          p.dk[o + d] = dk[i][r * 2 + c] * p.scale;
          p.dv[o + d] = dv[i][r * 2 + c];
        }
      }
  }
}

template <int DP>
__global__ void __launch_bounds__(kWarps * 32)
    attentionBackwardQBf16Kernel(AttentionParams p, const float* delta) {
  constexpr int BQ = kWarps * 16, BK = 32, RH = DP + 8, KS = DP / 16;
  __shared__ __align__(16) __nv_bfloat16 ks[(BQ > BK ? BQ : BK) * RH];
  __shared__ __align__(16) __nv_bfloat16 vs[(BQ > BK ? BQ : BK) * RH];
  const int N = int(p.N), D = int(p.D);
  const int64_t b = blockIdx.x / p.H, h = blockIdx.x % p.H, bh = blockIdx.x;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane / 4, t = lane % 4;
  const int q0 = blockIdx.y * BQ;
  const int64_t off = b * p.qkv_sB + h * p.qkv_sH, ooff = b * p.o_sB + h * p.o_sH;
  // Q (scaled) and dO fragments, through the two tiles.
  loadTileBf16<DP>(ks, p.q + off, p.qkv_sN, q0, BQ, N, D, p.scale * kLog2e);
  loadTileBf16<DP>(vs, p.dout + ooff, p.o_sN, q0, BQ, N, D, 1.f);
  __syncthreads();
  uint32_t qf[KS][4], df[KS][4];
#pragma unroll
  for (int kk = 0; kk < KS; ++kk) {
    loadA<DP>(qf[kk], ks, warp * 16, kk, lane);
    loadA<DP>(df[kk], vs, warp * 16, kk, lane);
  }
  float lse2[2], dlt[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int n = q0 + warp * 16 + g + r * 8;
    lse2[r] = n < N ? p.lse[bh * N + n] * kLog2e : INFINITY;
    dlt[r] = n < N ? delta[bh * N + n] : 0.f;
  }
  float dq[DP / 8][4];
#pragma unroll
  for (int i = 0; i < DP / 8; ++i) dq[i][0] = dq[i][1] = dq[i][2] = dq[i][3] = 0.f;

  for (int kv0 = 0; kv0 < N; kv0 += BK) {
    __syncthreads();
    loadTileBf16<DP>(ks, p.k + off, p.qkv_sN, kv0, BK, N, D, 1.f);
    loadTileBf16<DP>(vs, p.v + off, p.qkv_sN, kv0, BK, N, D, 1.f);
    __syncthreads();
    float s[BK / 8][4], dp[BK / 8][4];
#pragma unroll
    for (int i = 0; i < BK / 8; ++i)
#pragma unroll
      for (int c = 0; c < 4; ++c) s[i][c] = dp[i][c] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KS; ++kk)
#pragma unroll
      for (int j = 0; j < BK / 16; ++j) {
        uint32_t kb[4], vb[4];
        loadBnk<DP>(kb, ks, j * 16, kk, lane);
        loadBnk<DP>(vb, vs, j * 16, kk, lane);
        mmaBf16(s[2 * j], qf[kk], kb[0], kb[1]);
        mmaBf16(s[2 * j + 1], qf[kk], kb[2], kb[3]);
        mmaBf16(dp[2 * j], df[kk], vb[0], vb[1]);
        mmaBf16(dp[2 * j + 1], df[kk], vb[2], vb[3]);
      }
#pragma unroll
    for (int i = 0; i < BK / 8; ++i)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const bool valid = kv0 + i * 8 + 2 * t + (c & 1) < N;
        const float pij = valid ? exp2f(s[i][c] - lse2[c / 2]) : 0.f;
        s[i][c] = pij * (dp[i][c] - dlt[c / 2]);  // dS
      }
#pragma unroll
    for (int j = 0; j < BK / 16; ++j) {
      const uint32_t sa[4] = {
          packBf16(s[2 * j][0], s[2 * j][1]), packBf16(s[2 * j][2], s[2 * j][3]),
          packBf16(s[2 * j + 1][0], s[2 * j + 1][1]), packBf16(s[2 * j + 1][2], s[2 * j + 1][3])};
#pragma unroll
      for (int dt = 0; dt < DP / 16; ++dt) {
        uint32_t kb[4];
        loadBkn<DP>(kb, ks, j * 16, dt * 16, lane);
        mmaBf16(dq[2 * dt], sa, kb[0], kb[1]);
        mmaBf16(dq[2 * dt + 1], sa, kb[2], kb[3]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int n = q0 + warp * 16 + g + r * 8;
    if (n >= N) continue;
    const int64_t o = off + int64_t(n) * p.qkv_sN;
#pragma unroll
    for (int i = 0; i < DP / 8; ++i)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int d = i * 8 + 2 * t + c;
        if (d < D) p.dq[o + d] = dq[i][r * 2 + c] * p.scale;
      }
  }
}

template <int DP>
void forwardBf16(const AttentionParams& p, cudaStream_t stream) {
  dim3 grid(unsigned(p.B * p.H), unsigned(ceilDiv(p.N, kWarps * 16)));
  attentionForwardBf16Kernel<DP><<<grid, kWarps * 32, 0, stream>>>(p);
  CUDA_CHECK_LAUNCH();
}

template <int DP>
void backwardBf16(const AttentionParams& p, const float* delta, cudaStream_t stream) {
  constexpr int RH = DP + 8;
  const size_t shmem = sizeof(__nv_bfloat16) * (2 * kWarps * 16 + 2 * 32) * RH + sizeof(float) * 64;
  if (shmem > 48 * 1024)
    CUDA_CHECK(cudaFuncSetAttribute(attentionBackwardKVBf16Kernel<DP>,
                                    cudaFuncAttributeMaxDynamicSharedMemorySize, int(shmem)));
  const dim3 grid(unsigned(p.B * p.H), unsigned(ceilDiv(p.N, kWarps * 16)));
  attentionBackwardKVBf16Kernel<DP><<<grid, kWarps * 32, shmem, stream>>>(p, delta);
  CUDA_CHECK_LAUNCH();
  attentionBackwardQBf16Kernel<DP><<<grid, kWarps * 32, 0, stream>>>(p, delta);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void attentionForwardBf16(const AttentionParams& p, int paddedHeadDim, cudaStream_t stream) {
  switch (paddedHeadDim) {
    case 32:
      forwardBf16<32>(p, stream);
      break;
    case 64:
      forwardBf16<64>(p, stream);
      break;
    default:
      forwardBf16<128>(p, stream);
      break;
  }
}

void attentionBackwardBf16(const AttentionParams& p, int paddedHeadDim, const float* delta,
                           cudaStream_t stream) {
  switch (paddedHeadDim) {
    case 32:
      backwardBf16<32>(p, delta, stream);
      break;
    case 64:
      backwardBf16<64>(p, delta, stream);
      break;
    default:
      backwardBf16<128>(p, delta, stream);
      break;
  }
}

}  // namespace cskd::cuda::attn
