// LayerNorm forward and backward, one warp per row.
//
// Forward: the row is read once into registers when it fits (cols <= 32 * 4 *
// kMaxVec, i.e. up to 1024 with 16-byte loads, which covers every ViT width we
// train), so mean and variance come from registers and the variance is the
// two-pass sum of squared deviations (no E[x^2] - E[x]^2 cancellation). Wider
// or unaligned rows take a generic path that re-reads the row from cache.
//
// Backward: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy *
// gamma. dgamma and dbeta are column sums over all rows; each block keeps its
// partial sums in shared memory (its warps add into them with shared-memory
// atomics), writes them to scratch, and a second kernel adds the per-block
// partials into dgamma/dbeta. The grid is a fixed number of blocks that stride
// over rows, so the scratch is small.
#include "cuda/allocator.h"
#include "cuda/common.h"
#include "cuda/layernorm.h"

namespace cskd::cuda {
namespace {

constexpr int kMaxVec = 8;  // float4s per lane held in registers: 32*4*8 = 1024 columns

template <int V>
__global__ void layerNormForwardVec(const float* x, const float* gamma, const float* beta, float* y,
                                    float* mean, float* rstd, int64_t rows, int cols, float eps) {
  const int64_t row = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const int cols4 = cols >> 2;
  const float4* xr = reinterpret_cast<const float4*>(x + row * cols);
  float4 v[V];
  float s = 0.f;
#pragma unroll
  for (int k = 0; k < V; ++k) {
    int c = lane + 32 * k;
    v[k] = c < cols4 ? xr[c] : make_float4(0.f, 0.f, 0.f, 0.f);
    s += v[k].x + v[k].y + v[k].z + v[k].w;
  }
  const float mu = warpSum(s) / cols;
  float q = 0.f;
#pragma unroll
  for (int k = 0; k < V; ++k) {
    int c = lane + 32 * k;
    if (c < cols4) {
      float a = v[k].x - mu, b = v[k].y - mu, d = v[k].z - mu, e = v[k].w - mu;
      q += a * a + b * b + d * d + e * e;
    }
  }
  const float rs = rsqrtf(warpSum(q) / cols + eps);
  float4* yr = reinterpret_cast<float4*>(y + row * cols);
  const float4* g4 = reinterpret_cast<const float4*>(gamma);
  const float4* b4 = reinterpret_cast<const float4*>(beta);
#pragma unroll
  for (int k = 0; k < V; ++k) {
    int c = lane + 32 * k;
    if (c < cols4) {
      float4 g = g4[c], b = b4[c], o;
      o.x = (v[k].x - mu) * rs * g.x + b.x;
      o.y = (v[k].y - mu) * rs * g.y + b.y;
      o.z = (v[k].z - mu) * rs * g.z + b.z;
      o.w = (v[k].w - mu) * rs * g.w + b.w;
      yr[c] = o;
    }
  }
  if (lane == 0) {
    if (mean) mean[row] = mu;
    if (rstd) rstd[row] = rs;
  }
}

__global__ void layerNormForwardGeneric(const float* x, const float* gamma, const float* beta,
                                        float* y, float* mean, float* rstd, int64_t rows,
                                        int64_t cols, float eps) {
  const int64_t row = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* xr = x + row * cols;
  float s = 0.f;
  for (int64_t c = lane; c < cols; c += 32) s += xr[c];
  const float mu = warpSum(s) / cols;
  float q = 0.f;
  for (int64_t c = lane; c < cols; c += 32) {
    float d = xr[c] - mu;
    q += d * d;
  }
  const float rs = rsqrtf(warpSum(q) / cols + eps);
  float* yr = y + row * cols;
  for (int64_t c = lane; c < cols; c += 32) yr[c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
  if (lane == 0) {
    if (mean) mean[row] = mu;
    if (rstd) rstd[row] = rs;
  }
}

// Shared memory: 2 * cols floats (dgamma, dbeta partials of this block).
__global__ void layerNormBackwardKernel(const float* x, const float* gamma, const float* mean,
                                        const float* rstd, const float* dy, float* dx,
                                        float* partial, int64_t rows, int64_t cols,
                                        bool accumulate) {
  extern __shared__ float sh[];
  float* sg = sh;
  float* sb = sh + cols;
  for (int64_t c = threadIdx.x; c < 2 * cols; c += blockDim.x) sh[c] = 0.f;
  __syncthreads();
  const int lane = threadIdx.x & 31;
  const int warpsPerBlock = blockDim.x >> 5;
  const int64_t warpId = blockIdx.x * int64_t(warpsPerBlock) + (threadIdx.x >> 5);
  const int64_t warpCount = int64_t(gridDim.x) * warpsPerBlock;
  for (int64_t row = warpId; row < rows; row += warpCount) {
    const float *xr = x + row * cols, *dyr = dy + row * cols;
    const float mu = mean[row], rs = rstd[row];
    float sumG = 0.f, sumGX = 0.f;
    for (int64_t c = lane; c < cols; c += 32) {
      float xh = (xr[c] - mu) * rs, d = dyr[c];
      float g = d * gamma[c];
      sumG += g;
      sumGX += g * xh;
      atomicAdd(&sg[c], d * xh);
      atomicAdd(&sb[c], d);
    }
    sumG = warpSum(sumG) / cols;
    sumGX = warpSum(sumGX) / cols;
    float* dxr = dx + row * cols;
    for (int64_t c = lane; c < cols; c += 32) {
      float xh = (xr[c] - mu) * rs;
      float v = rs * (dyr[c] * gamma[c] - sumG - xh * sumGX);
      dxr[c] = accumulate ? dxr[c] + v : v;
    }
  }
  __syncthreads();
  float* out = partial + blockIdx.x * 2 * cols;
  for (int64_t c = threadIdx.x; c < 2 * cols; c += blockDim.x) out[c] = sh[c];
}

__global__ void layerNormParamGrads(const float* partial, int blocks, int64_t cols, float* dgamma,
                                    float* dbeta) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  float g = 0.f, b = 0.f;
  for (int k = 0; k < blocks; ++k) {
    g += partial[int64_t(k) * 2 * cols + c];
    b += partial[int64_t(k) * 2 * cols + cols + c];
  }
  dgamma[c] += g;
  dbeta[c] += b;
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

}  // namespace

void layerNormForward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                      float* rstd, int64_t rows, int64_t cols, float eps, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const unsigned grid = unsigned(ceilDiv(rows, 8));
  const bool vec = cols % 4 == 0 && cols <= 32 * 4 * kMaxVec && aligned16(x) && aligned16(y) &&
                   aligned16(gamma) && aligned16(beta);
  if (vec) {
    const int v = int(ceilDiv(cols / 4, 32));
    const int c = int(cols);
    if (v <= 2)
      layerNormForwardVec<2><<<grid, 256, 0, stream>>>(x, gamma, beta, y, mean, rstd, rows, c, eps);
    else if (v <= 4)
      layerNormForwardVec<4><<<grid, 256, 0, stream>>>(x, gamma, beta, y, mean, rstd, rows, c, eps);
    else if (v <= 6)
      layerNormForwardVec<6><<<grid, 256, 0, stream>>>(x, gamma, beta, y, mean, rstd, rows, c, eps);
    else
      layerNormForwardVec<8><<<grid, 256, 0, stream>>>(x, gamma, beta, y, mean, rstd, rows, c, eps);
  } else {
    layerNormForwardGeneric<<<grid, 256, 0, stream>>>(x, gamma, beta, y, mean, rstd, rows, cols,
                                                      eps);
  }
  CUDA_CHECK_LAUNCH();
}

void layerNormBackward(const float* x, const float* gamma, const float* mean, const float* rstd,
                       const float* dy, float* dx, float* dgamma, float* dbeta, int64_t rows,
                       int64_t cols, bool accumulate, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const size_t shmem = sizeof(float) * 2 * cols;
  if (shmem > 48 * 1024) {
    CUDA_CHECK(cudaFuncSetAttribute(layerNormBackwardKernel,
                                    cudaFuncAttributeMaxDynamicSharedMemorySize, int(shmem)));
  }
  const int threads = 256;
  int blocks = std::max(
      1, int(std::min<int64_t>(ceilDiv(rows, threads / 32), int64_t(multiprocessorCount()) * 2)));
  DeviceScratch partial(sizeof(float) * 2 * cols * blocks);
  layerNormBackwardKernel<<<blocks, threads, shmem, stream>>>(
      x, gamma, mean, rstd, dy, dx, partial.as<float>(), rows, cols, accumulate);
  CUDA_CHECK_LAUNCH();
  layerNormParamGrads<<<unsigned(ceilDiv(cols, 256)), 256, 0, stream>>>(partial.as<float>(), blocks,
                                                                        cols, dgamma, dbeta);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cskd::cuda
