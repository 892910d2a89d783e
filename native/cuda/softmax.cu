// Row softmax forward and backward: one warp per row.
//
// Rows here are short (score bins, K = 10; class logits) or moderate, so a warp
// per row keeps every reduction in shuffles with no shared memory or block
// barriers. The forward makes three passes over the row (max, sum, write); the
// second and third hit L1. Backward: dx = y (dy - sum(y dy)) / T.
#include "cuda/common.h"
#include "cuda/softmax.h"

namespace cskd::cuda {
namespace {

__global__ void softmaxForwardKernel(const float* x, float* y, int64_t rows, int64_t cols,
                                     float invT) {
  const int64_t row = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* xr = x + row * cols;
  float* yr = y + row * cols;
  float m = -INFINITY;
  for (int64_t c = lane; c < cols; c += 32) m = fmaxf(m, xr[c] * invT);
  m = warpMax(m);
  float s = 0.f;
  for (int64_t c = lane; c < cols; c += 32) s += expf(xr[c] * invT - m);
  s = warpSum(s);
  const float inv = 1.f / s;
  for (int64_t c = lane; c < cols; c += 32) yr[c] = expf(xr[c] * invT - m) * inv;
}

__global__ void softmaxBackwardKernel(const float* y, const float* dy, float* dx, int64_t rows,
                                      int64_t cols, float invT) {
  const int64_t row = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float *yr = y + row * cols, *dyr = dy + row * cols;
  float* dxr = dx + row * cols;
  float s = 0.f;
  for (int64_t c = lane; c < cols; c += 32) s += yr[c] * dyr[c];
  s = warpSum(s);
  for (int64_t c = lane; c < cols; c += 32) dxr[c] = yr[c] * (dyr[c] - s) * invT;
}

}  // namespace

void softmaxForward(const float* x, float* y, int64_t rows, int64_t cols, float temperature,
                    cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  softmaxForwardKernel<<<unsigned(ceilDiv(rows, 8)), 256, 0, stream>>>(x, y, rows, cols,
                                                                       1.f / temperature);
  CUDA_CHECK_LAUNCH();
}

void softmaxBackward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols,
                     float temperature, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  softmaxBackwardKernel<<<unsigned(ceilDiv(rows, 8)), 256, 0, stream>>>(y, dy, dx, rows, cols,
                                                                        1.f / temperature);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cskd::cuda
