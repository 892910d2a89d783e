// LayerNorm over the last dimension, forward and backward.
// Forward saves mean and rstd ([rows]) for the backward. The backward writes dx
// (or adds into it with accumulate, which fuses a residual branch's gradient)
// and always adds into dgamma and dbeta, so parameter gradients accumulate over
// micro-batches.
#pragma once
#include <cstdint>

namespace cskd::cpu {

void layerNormForward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                      float* rstd, int64_t rows, int64_t cols, float eps);

void layerNormBackward(const float* x, const float* gamma, const float* mean, const float* rstd,
                       const float* dy, float* dx, float* dgamma, float* dbeta, int64_t rows,
                       int64_t cols, bool accumulate);

}  // namespace cskd::cpu
