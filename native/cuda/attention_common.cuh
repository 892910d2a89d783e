// Pieces shared by the attention kernels (attention.cu, attention_stats.cu):
// the thread-group layout and the padded shared-memory tiles.
//
// A query (or key) row is owned by a group of G = DP / C consecutive lanes,
// each holding C of its DP (padded head dim) values in registers. A dot product
// is C FMAs per lane plus log2(G) shuffles. Shared-memory tiles store each row
// as G chunks of C floats with 4 floats of padding after each chunk, so the G
// lanes of a group, reading the same row's chunks as float4, hit disjoint banks.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cpu/attention.h"

namespace cskd::cuda::attn {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

template <int G>
__device__ __forceinline__ float groupSum(float v) {
#pragma unroll
  for (int o = G / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <int DP, int C>
struct Tile {
  static constexpr int G = DP / C;
  static constexpr int kRow = G * (C + 4);  // floats per padded row
  __device__ static int offset(int row, int d) { return row * kRow + (d / C) * (C + 4) + d % C; }
};

// Loads rows [n0, n0 + rows) of one (b, h) slice into a padded tile, zero-filling
// rows >= N and dims >= D. All threads of the block take part.
template <int DP, int C>
__device__ __forceinline__ void loadTile(float* tile, const float* base, int64_t sN, int n0,
                                         int rows, int N, int D) {
  for (int idx = threadIdx.x; idx < rows * DP; idx += blockDim.x) {
    int r = idx / DP, d = idx % DP;
    int n = n0 + r;
    float v = (n < N && d < D) ? base[int64_t(n) * sN + d] : 0.f;
    tile[Tile<DP, C>::offset(r, d)] = v;
  }
}

// Dot product of a register chunk with a tile row's chunk for lane-in-group g.
template <int DP, int C>
__device__ __forceinline__ float chunkDot(const float (&x)[C], const float* tile, int row, int g) {
  const float4* t = reinterpret_cast<const float4*>(tile + row * Tile<DP, C>::kRow + g * (C + 4));
  float s = 0.f;
#pragma unroll
  for (int c = 0; c < C / 4; ++c) {
    float4 k = t[c];
    s = fmaf(x[4 * c], k.x, s);
    s = fmaf(x[4 * c + 1], k.y, s);
    s = fmaf(x[4 * c + 2], k.z, s);
    s = fmaf(x[4 * c + 3], k.w, s);
  }
  return s;
}

// acc += a * tile row chunk
template <int DP, int C>
__device__ __forceinline__ void chunkAxpy(float (&acc)[C], float a, const float* tile, int row,
                                          int g) {
  const float4* t = reinterpret_cast<const float4*>(tile + row * Tile<DP, C>::kRow + g * (C + 4));
#pragma unroll
  for (int c = 0; c < C / 4; ++c) {
    float4 v = t[c];
    acc[4 * c] = fmaf(a, v.x, acc[4 * c]);
    acc[4 * c + 1] = fmaf(a, v.y, acc[4 * c + 1]);
    acc[4 * c + 2] = fmaf(a, v.z, acc[4 * c + 2]);
    acc[4 * c + 3] = fmaf(a, v.w, acc[4 * c + 3]);
  }
}

// Loads lane g's chunk of row n of a (b, h) slice into registers (zeros past N or D).
template <int C>
__device__ __forceinline__ void loadChunk(float (&x)[C], const float* base, int64_t sN, int n,
                                          int N, int D, int g, float mul) {
#pragma unroll
  for (int c = 0; c < C; ++c) {
    int d = g * C + c;
    x[c] = (n < N && d < D) ? base[int64_t(n) * sN + d] * mul : 0.f;
  }
}

}  // namespace cskd::cuda::attn

namespace cskd::cuda::attn {

// Tensor-core launchers (attention_bf16.cu); paddedHeadDim is 32, 64 or 128,
// delta the rowsum(dout * out) that attentionBackward computes first.
void attentionForwardBf16(const cpu::AttentionParams& p, int paddedHeadDim, cudaStream_t stream);
void attentionBackwardBf16(const cpu::AttentionParams& p, int paddedHeadDim, const float* delta,
                           cudaStream_t stream);

}  // namespace cskd::cuda::attn
