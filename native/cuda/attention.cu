// Attention forward and backward, flash-style, float32.
//
// Forward: a block takes a tile of queries of one (b, h) and walks the keys in
// tiles of 32 held in shared memory, keeping the running max, the running sum
// and the output accumulator in registers (online softmax); the N x N scores
// never exist in memory. Scores are kept in base 2 (q is pre-scaled by
// scale * log2 e, so exp2f is one MUFU op); lse is saved in natural log, as
// the contract says. A query row is owned by DP/32 lanes (attention_common.cuh).
//
// Backward, in three launches and no atomics:
//   1. delta_i = dout_i . out_i  (warp per row)
//   2. dK, dV: a block owns a tile of keys and walks the query tiles,
//      rebuilding p_ij = exp(s_ij - lse_i) from the saved lse:
//        dv_j += p_ij dout_i;  ds_ij = p_ij (dout_i . v_j - delta_i);  dk_j += ds_ij q_i
//   3. dQ: a block owns a tile of queries and walks the key tiles:
//        dq_i += ds_ij k_j
// Recomputing the scores twice costs FLOPs but keeps every gradient written
// exactly once by one thread group, so results are deterministic and there is
// no need for a float32 dq accumulator in global memory.
//
// Head dims are padded up to a template DP in {32, 64, 128}; padded dims are
// zeros and never written back, so any D <= 128 works. These kernels run on
// CUDA cores (FFMA) and are the float32 path; AttentionPrecision::Bf16 takes
// the tensor-core kernels of attention_bf16.cu instead.
#include <stdexcept>
#include <string>

#include "cuda/allocator.h"
#include "cuda/attention.h"
#include "cuda/attention_common.cuh"
#include "cuda/common.h"

namespace cskd::cuda {
namespace {

using namespace attn;

constexpr int kThreads = 128;
constexpr int kKeyTile = 32;
constexpr int kQueryTile = 32;

template <int DP>
__global__ void __launch_bounds__(kThreads) attentionForwardKernel(AttentionParams p) {
  constexpr int C = 32, G = DP / C, QPB = kThreads / G;
  __shared__ __align__(16) float ks[kKeyTile * Tile<DP, C>::kRow];
  __shared__ __align__(16) float vs[kKeyTile * Tile<DP, C>::kRow];
  const int N = int(p.N), D = int(p.D);
  const int64_t b = blockIdx.x / p.H, h = blockIdx.x % p.H;
  const int g = threadIdx.x % G;
  const int n = blockIdx.y * QPB + threadIdx.x / G;
  const int64_t off = b * p.qkv_sB + h * p.qkv_sH;
  float q[C], acc[C];
  loadChunk<C>(q, p.q + off, p.qkv_sN, n, N, D, g, p.scale * kLog2e);
#pragma unroll
  for (int c = 0; c < C; ++c) acc[c] = 0.f;
  float m = -INFINITY, l = 0.f;
  for (int kv0 = 0; kv0 < N; kv0 += kKeyTile) {
    const int rows = min(kKeyTile, N - kv0);
    __syncthreads();
    loadTile<DP, C>(ks, p.k + off, p.qkv_sN, kv0, kKeyTile, N, D);
    loadTile<DP, C>(vs, p.v + off, p.qkv_sN, kv0, kKeyTile, N, D);
    __syncthreads();
    float s[kKeyTile];
    float tmax = -INFINITY;
#pragma unroll
    for (int j = 0; j < kKeyTile; ++j) {
      if (j < rows) {
        s[j] = groupSum<G>(chunkDot<DP, C>(q, ks, j, g));
        tmax = fmaxf(tmax, s[j]);
      } else {
        s[j] = -INFINITY;
      }
    }
    const float mNew = fmaxf(m, tmax);
    const float corr = exp2f(m - mNew);
    l *= corr;
#pragma unroll
    for (int c = 0; c < C; ++c) acc[c] *= corr;
#pragma unroll
    for (int j = 0; j < kKeyTile; ++j) {
      if (j < rows) {
        const float pj = exp2f(s[j] - mNew);
        l += pj;
        chunkAxpy<DP, C>(acc, pj, vs, j, g);
      }
    }
    m = mNew;
  }
  if (n >= N) return;
  const float inv = 1.f / l;
  float* o = p.out + b * p.o_sB + h * p.o_sH + int64_t(n) * p.o_sN;
#pragma unroll
  for (int c = 0; c < C; ++c) {
    const int d = g * C + c;
    if (d < D) o[d] = acc[c] * inv;
  }
  if (g == 0) p.lse[(b * p.H + h) * N + n] = (m + log2f(l)) * kLn2;
}

// delta[b,h,n] = dout . out
__global__ void attentionDeltaKernel(AttentionParams p, float* delta) {
  const int64_t row = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  const int64_t total = p.B * p.H * p.N;
  if (row >= total) return;
  const int64_t n = row % p.N, bh = row / p.N, h = bh % p.H, b = bh / p.H;
  const int64_t o = b * p.o_sB + h * p.o_sH + n * p.o_sN;
  float s = 0.f;
  for (int64_t d = lane; d < p.D; d += 32) s += p.dout[o + d] * p.out[o + d];
  s = warpSum(s);
  if (lane == 0) delta[row] = s;
}

template <int DP>
__global__ void __launch_bounds__(kThreads)
    attentionBackwardKVKernel(AttentionParams p, const float* delta) {
  constexpr int C = 16, G = DP / C, KPB = kThreads / G;
  __shared__ __align__(16) float qs[kQueryTile * Tile<DP, C>::kRow];
  __shared__ __align__(16) float dos[kQueryTile * Tile<DP, C>::kRow];
  __shared__ float lses[kQueryTile], deltas[kQueryTile];
  const int N = int(p.N), D = int(p.D);
  const int64_t b = blockIdx.x / p.H, h = blockIdx.x % p.H, bh = blockIdx.x;
  const int g = threadIdx.x % G;
  const int n = blockIdx.y * KPB + threadIdx.x / G;
  const int64_t off = b * p.qkv_sB + h * p.qkv_sH;
  const int64_t ooff = b * p.o_sB + h * p.o_sH;
  float k[C], v[C], dk[C], dv[C];
  loadChunk<C>(k, p.k + off, p.qkv_sN, n, N, D, g, p.scale * kLog2e);
  loadChunk<C>(v, p.v + off, p.qkv_sN, n, N, D, g, 1.f);
#pragma unroll
  for (int c = 0; c < C; ++c) dk[c] = dv[c] = 0.f;
  for (int q0 = 0; q0 < N; q0 += kQueryTile) {
    const int rows = min(kQueryTile, N - q0);
    __syncthreads();
    loadTile<DP, C>(qs, p.q + off, p.qkv_sN, q0, kQueryTile, N, D);
    loadTile<DP, C>(dos, p.dout + ooff, p.o_sN, q0, kQueryTile, N, D);
    if (threadIdx.x < kQueryTile) {
      const int i = q0 + threadIdx.x;
      lses[threadIdx.x] = i < N ? p.lse[bh * N + i] * kLog2e : INFINITY;
      deltas[threadIdx.x] = i < N ? delta[bh * N + i] : 0.f;
    }
    __syncthreads();
    for (int i = 0; i < rows; ++i) {
      const float s = groupSum<G>(chunkDot<DP, C>(k, qs, i, g));
      const float pij = exp2f(s - lses[i]);
      chunkAxpy<DP, C>(dv, pij, dos, i, g);
      const float dp = groupSum<G>(chunkDot<DP, C>(v, dos, i, g));
      chunkAxpy<DP, C>(dk, pij * (dp - deltas[i]), qs, i, g);
    }
  }
  if (n >= N) return;
  const int64_t o = off + int64_t(n) * p.qkv_sN;
#pragma unroll
  for (int c = 0; c < C; ++c) {
    const int d = g * C + c;
    if (d < D) {
      p.dk[o + d] = dk[c] * p.scale;
      p.dv[o + d] = dv[c];
    }
  }
}

template <int DP>
__global__ void __launch_bounds__(kThreads)
    attentionBackwardQKernel(AttentionParams p, const float* delta) {
  constexpr int C = 32, G = DP / C, QPB = kThreads / G;
  __shared__ __align__(16) float ks[kKeyTile * Tile<DP, C>::kRow];
  __shared__ __align__(16) float vs[kKeyTile * Tile<DP, C>::kRow];
  const int N = int(p.N), D = int(p.D);
  const int64_t b = blockIdx.x / p.H, h = blockIdx.x % p.H, bh = blockIdx.x;
  const int g = threadIdx.x % G;
  const int n = blockIdx.y * QPB + threadIdx.x / G;
  const int64_t off = b * p.qkv_sB + h * p.qkv_sH;
  const int64_t ooff = b * p.o_sB + h * p.o_sH;
  float q[C], dout[C], dq[C];
  loadChunk<C>(q, p.q + off, p.qkv_sN, n, N, D, g, p.scale * kLog2e);
  loadChunk<C>(dout, p.dout + ooff, p.o_sN, n, N, D, g, 1.f);
#pragma unroll
  for (int c = 0; c < C; ++c) dq[c] = 0.f;
  const float lse2 = n < N ? p.lse[bh * N + n] * kLog2e : INFINITY;
  const float dlt = n < N ? delta[bh * N + n] : 0.f;
  for (int kv0 = 0; kv0 < N; kv0 += kKeyTile) {
    const int rows = min(kKeyTile, N - kv0);
    __syncthreads();
    loadTile<DP, C>(ks, p.k + off, p.qkv_sN, kv0, kKeyTile, N, D);
    loadTile<DP, C>(vs, p.v + off, p.qkv_sN, kv0, kKeyTile, N, D);
    __syncthreads();
    for (int j = 0; j < rows; ++j) {
      const float s = groupSum<G>(chunkDot<DP, C>(q, ks, j, g));
      const float pij = exp2f(s - lse2);
      const float dp = groupSum<G>(chunkDot<DP, C>(dout, vs, j, g));
      chunkAxpy<DP, C>(dq, pij * (dp - dlt), ks, j, g);
    }
  }
  if (n >= N) return;
  const int64_t o = off + int64_t(n) * p.qkv_sN;
#pragma unroll
  for (int c = 0; c < C; ++c) {
    const int d = g * C + c;
    if (d < D) p.dq[o + d] = dq[c] * p.scale;
  }
}

int paddedHeadDim(int64_t D) {
  if (D <= 32) return 32;
  if (D <= 64) return 64;
  if (D <= kAttentionMaxHeadDim) return 128;
  throw std::invalid_argument("attention: head dim " + std::to_string(D) + " > " +
                              std::to_string(kAttentionMaxHeadDim));
}

template <int DP>
void forwardDP(const AttentionParams& p, cudaStream_t stream) {
  constexpr int QPB = kThreads / (DP / 32);
  dim3 grid(unsigned(p.B * p.H), unsigned(ceilDiv(p.N, QPB)));
  attentionForwardKernel<DP><<<grid, kThreads, 0, stream>>>(p);
  CUDA_CHECK_LAUNCH();
}

template <int DP>
void backwardDP(const AttentionParams& p, const float* delta, cudaStream_t stream) {
  constexpr int KPB = kThreads / (DP / 16), QPB = kThreads / (DP / 32);
  dim3 gridKV(unsigned(p.B * p.H), unsigned(ceilDiv(p.N, KPB)));
  attentionBackwardKVKernel<DP><<<gridKV, kThreads, 0, stream>>>(p, delta);
  CUDA_CHECK_LAUNCH();
  dim3 gridQ(unsigned(p.B * p.H), unsigned(ceilDiv(p.N, QPB)));
  attentionBackwardQKernel<DP><<<gridQ, kThreads, 0, stream>>>(p, delta);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void attentionForward(const AttentionParams& p, cudaStream_t stream, AttentionPrecision precision) {
  if (p.B * p.H * p.N <= 0) return;
  if (precision == AttentionPrecision::Bf16) {
    attn::attentionForwardBf16(p, paddedHeadDim(p.D), stream);
    return;
  }
  switch (paddedHeadDim(p.D)) {
    case 32:
      forwardDP<32>(p, stream);
      break;
    case 64:
      forwardDP<64>(p, stream);
      break;
    default:
      forwardDP<128>(p, stream);
      break;
  }
}

void attentionBackward(const AttentionParams& p, cudaStream_t stream,
                       AttentionPrecision precision) {
  if (p.B * p.H * p.N <= 0) return;
  const int dp = paddedHeadDim(p.D);
  const int64_t rows = p.B * p.H * p.N;
  DeviceScratch delta(sizeof(float) * rows);
  attentionDeltaKernel<<<unsigned(ceilDiv(rows, 8)), 256, 0, stream>>>(p, delta.as<float>());
  CUDA_CHECK_LAUNCH();
  if (precision == AttentionPrecision::Bf16) {
    attn::attentionBackwardBf16(p, dp, delta.as<float>(), stream);
    return;
  }
  switch (dp) {
    case 32:
      backwardDP<32>(p, delta.as<float>(), stream);
      break;
    case 64:
      backwardDP<64>(p, delta.as<float>(), stream);
      break;
    default:
      backwardDP<128>(p, delta.as<float>(), stream);
      break;
  }
}

}  // namespace cskd::cuda
