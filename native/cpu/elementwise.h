// Adds and their gradients: residual adds, bias adds, axpy-style accumulation
// and scaling. The backward of a residual add is the identity (accumulate); the
// backward of a bias add is biasGradient.
#pragma once
#include <cstdint>

namespace cskd::cpu {

// out = a + b (out may alias a or b)
void add(const float* a, const float* b, float* out, int64_t n);
// y += alpha * x
void axpy(float alpha, const float* x, float* y, int64_t n);
// x *= alpha
void scale(float* x, int64_t n, float alpha);
// out[r, c] = x[r, c] + bias[c] (out may alias x)
void biasAdd(const float* x, const float* bias, float* out, int64_t rows, int64_t cols);
// dbias[c] (+)= sum_r dy[r, c]
void biasGradient(const float* dy, float* dbias, int64_t rows, int64_t cols, bool accumulate);

}  // namespace cskd::cpu
