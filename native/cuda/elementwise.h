// Adds, fills and their gradients on the GPU; the same contracts as cpu/elementwise.h,
// with device pointers and a stream.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace cskd::cuda {

// out = a + b (out may alias a or b)
void add(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream);
// y += alpha * x
void axpy(float alpha, const float* x, float* y, int64_t n, cudaStream_t stream);
// x *= alpha
void scale(float* x, int64_t n, float alpha, cudaStream_t stream);
// x[i] = value
void fill(float* x, int64_t n, float value, cudaStream_t stream);
// *flag = 1 when any x[i] is NaN or infinite (left as is otherwise): the
// device-side non-finite check, read by the host once per step.
void flagNonFinite(const float* x, int64_t n, float* flag, cudaStream_t stream);
// out[r, c] = x[r, c] + bias[c] (out may alias x)
void biasAdd(const float* x, const float* bias, float* out, int64_t rows, int64_t cols,
             cudaStream_t stream);
// dbias[c] (+)= sum_r dy[r, c]
void biasGradient(const float* dy, float* dbias, int64_t rows, int64_t cols, bool accumulate,
                  cudaStream_t stream);

}  // namespace cskd::cuda
