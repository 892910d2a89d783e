// LayerNorm over the last dimension on the GPU; the contract of cpu/layernorm.h
// (mean and rstd saved by the forward; the backward writes or accumulates dx
// and always adds into dgamma and dbeta).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace cskd::cuda {

void layerNormForward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                      float* rstd, int64_t rows, int64_t cols, float eps, cudaStream_t stream);

void layerNormBackward(const float* x, const float* gamma, const float* mean, const float* rstd,
                       const float* dy, float* dx, float* dgamma, float* dbeta, int64_t rows,
                       int64_t cols, bool accumulate, cudaStream_t stream);

}  // namespace cskd::cuda
