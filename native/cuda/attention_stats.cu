// Attention statistics without the N x N map.
//
// Same layout as the attention forward (a query row per DP/32 lanes, key tiles
// in shared memory). Each patch query makes two passes over the keys: the
// first finds the softmax max and sum over all tokens, the second rebuilds
// A_ij for the patch keys and accumulates A_ij * distance and -A_ij ln A_ij,
// with ln A_ij = s_ij - lse_i taken from the scores (no log of a tiny
// probability). Row values go to scratch and a second kernel averages them per
// (b, h) in a fixed order, so the result is deterministic.
#include <stdexcept>
#include <string>

#include "cuda/allocator.h"
#include "cuda/attention.h"
#include "cuda/attention_common.cuh"
#include "cuda/attention_stats.h"
#include "cuda/common.h"

namespace cskd::cuda {
namespace {

using namespace attn;

constexpr int kThreads = 128;
constexpr int kKeyTile = 32;

template <int DP>
__global__ void __launch_bounds__(kThreads)
    attentionStatsRowsKernel(AttentionStatsParams sp, float* rowDist, float* rowEnt) {
  constexpr int C = 32, G = DP / C, QPB = kThreads / G;
  __shared__ __align__(16) float ks[kKeyTile * Tile<DP, C>::kRow];
  const AttentionParams& p = sp.attn;
  const int N = int(p.N), D = int(p.D), prefix = int(sp.prefix), gw = int(sp.gridW);
  const int64_t b = blockIdx.x / p.H, h = blockIdx.x % p.H;
  const int g = threadIdx.x % G;
  const int n = blockIdx.y * QPB + threadIdx.x / G;
  const int64_t off = b * p.qkv_sB + h * p.qkv_sH;
  float q[C];
  loadChunk<C>(q, p.q + off, p.qkv_sN, n, N, D, g, p.scale * kLog2e);
  float m = -INFINITY, l = 0.f;
  for (int kv0 = 0; kv0 < N; kv0 += kKeyTile) {
    const int rows = min(kKeyTile, N - kv0);
    __syncthreads();
    loadTile<DP, C>(ks, p.k + off, p.qkv_sN, kv0, kKeyTile, N, D);
    __syncthreads();
    for (int j = 0; j < rows; ++j) {
      const float s = groupSum<G>(chunkDot<DP, C>(q, ks, j, g));
      const float mNew = fmaxf(m, s);
      l = l * exp2f(m - mNew) + exp2f(s - mNew);
      m = mNew;
    }
  }
  const float lse2 = m + log2f(l);  // base-2 log-sum-exp of the row
  const int pi = n - prefix;
  const float yi = float(pi / max(gw, 1)), xi = float(pi % max(gw, 1));
  float dist = 0.f, ent = 0.f;
  for (int kv0 = 0; kv0 < N; kv0 += kKeyTile) {
    const int rows = min(kKeyTile, N - kv0);
    __syncthreads();
    loadTile<DP, C>(ks, p.k + off, p.qkv_sN, kv0, kKeyTile, N, D);
    __syncthreads();
    for (int j = 0; j < rows; ++j) {
      const float s = groupSum<G>(chunkDot<DP, C>(q, ks, j, g));
      const int pj = kv0 + j - prefix;
      if (pj < 0) continue;
      const float a = exp2f(s - lse2);
      const float dy = float(pj / gw) - yi, dx = float(pj % gw) - xi;
      dist += a * sqrtf(dx * dx + dy * dy);
      ent -= a * (s - lse2) * kLn2;
    }
  }
  if (n < prefix || n >= N || g != 0) return;
  const int64_t r = (b * p.H + h) * N + n;
  rowDist[r] = dist * sp.patchPx;
  rowEnt[r] = ent;
}

__global__ void attentionStatsMeanKernel(AttentionStatsParams sp, const float* rowDist,
                                         const float* rowEnt) {
  __shared__ float scratch[32];
  const int64_t N = sp.attn.N, bh = blockIdx.x;
  float d = 0.f, e = 0.f;
  for (int64_t n = sp.prefix + threadIdx.x; n < N; n += blockDim.x) {
    d += rowDist[bh * N + n];
    e += rowEnt[bh * N + n];
  }
  d = blockSum(d, scratch);
  e = blockSum(e, scratch);
  if (threadIdx.x == 0) {
    const float inv = 1.f / float(N - sp.prefix);
    sp.distance[bh] = d * inv;
    sp.entropy[bh] = e * inv;
  }
}

template <int DP>
void rowsDP(const AttentionStatsParams& sp, float* rowDist, float* rowEnt, cudaStream_t stream) {
  constexpr int QPB = kThreads / (DP / 32);
  dim3 grid(unsigned(sp.attn.B * sp.attn.H), unsigned(ceilDiv(sp.attn.N, QPB)));
  attentionStatsRowsKernel<DP><<<grid, kThreads, 0, stream>>>(sp, rowDist, rowEnt);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void attentionStats(const AttentionStatsParams& sp, cudaStream_t stream) {
  const AttentionParams& p = sp.attn;
  if (p.B * p.H <= 0 || p.N <= sp.prefix) return;
  if (p.D > kAttentionMaxHeadDim)
    throw std::invalid_argument("attentionStats: head dim " + std::to_string(p.D) + " > " +
                                std::to_string(kAttentionMaxHeadDim));
  const int64_t rows = p.B * p.H * p.N;
  DeviceScratch dist(sizeof(float) * rows), ent(sizeof(float) * rows);
  if (p.D <= 32)
    rowsDP<32>(sp, dist.as<float>(), ent.as<float>(), stream);
  else if (p.D <= 64)
    rowsDP<64>(sp, dist.as<float>(), ent.as<float>(), stream);
  else
    rowsDP<128>(sp, dist.as<float>(), ent.as<float>(), stream);
  attentionStatsMeanKernel<<<unsigned(p.B * p.H), 256, 0, stream>>>(sp, dist.as<float>(),
                                                                    ent.as<float>());
  CUDA_CHECK_LAUNCH();
}

}  // namespace cskd::cuda
