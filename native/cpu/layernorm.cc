// LayerNorm, rows in parallel. Row statistics in two passes (mean, then the
// centred variance), so a residual stream's large mean does not cancel the
// variance as a one-pass sum of squares would. dgamma/dbeta are summed per
// chunk, then merged.
#include "cpu/layernorm.h"

#include <cmath>
#include <vector>

#include "cpu/parallel.h"
#include "cpu/vec_math.h"

namespace cskd::cpu {
namespace {

CSKD_SIMD_CLONES void forwardRows(const float* x, const float* gamma, const float* beta, float* y,
                                  float* mean, float* rstd, int64_t rows, int64_t cols, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    // Two passes in float lanes (the row is in L1 for the second): the
    // vector lanes are 16 partial sums, and centring before squaring keeps a
    // large mean from cancelling the variance.
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < cols; ++c) s += xr[c];
    const float m = s / static_cast<float>(cols);
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (int64_t c = 0; c < cols; ++c) {
      const float d = xr[c] - m;
      v += d * d;
    }
    const float rs = 1.0f / std::sqrt(v / static_cast<float>(cols) + eps);
    for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - m) * rs * gamma[c] + beta[c];
    mean[r] = m;
    rstd[r] = rs;
  }
}

// dxhat = dy * gamma; dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
CSKD_SIMD_CLONES void backwardRows(const float* x, const float* gamma, const float* mean,
                                   const float* rstd, const float* dy, float* dx, float* dg,
                                   float* db, int64_t rows, int64_t cols, bool accumulate) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float* g = dy + r * cols;
    float* dxr = dx + r * cols;
    const float m = mean[r], rs = rstd[r];
    float a = 0.0f, b = 0.0f;
#pragma omp simd reduction(+ : a, b)
    for (int64_t k = 0; k < cols; ++k) {
      const float xhat = (xr[k] - m) * rs;
      const float dxhat = g[k] * gamma[k];
      a += dxhat;
      b += dxhat * xhat;
      dg[k] += g[k] * xhat;
      db[k] += g[k];
    }
    const float ma = a / static_cast<float>(cols), mb = b / static_cast<float>(cols);
    for (int64_t k = 0; k < cols; ++k) {
      const float xhat = (xr[k] - m) * rs;
      const float v = rs * (g[k] * gamma[k] - ma - xhat * mb);
      dxr[k] = accumulate ? dxr[k] + v : v;
    }
  }
}

}  // namespace

void layerNormForward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                      float* rstd, int64_t rows, int64_t cols, float eps) {
  parallelFor(rows, 16, [&](int64_t r0, int64_t r1) {
    forwardRows(x + r0 * cols, gamma, beta, y + r0 * cols, mean + r0, rstd + r0, r1 - r0, cols,
                eps);
  });
}

void layerNormBackward(const float* x, const float* gamma, const float* mean, const float* rstd,
                       const float* dy, float* dx, float* dgamma, float* dbeta, int64_t rows,
                       int64_t cols, bool accumulate) {
  // One private dgamma/dbeta per chunk, then one merge: no atomics, and the same
  // chunking (hence the same sums) for a given thread count.
  const int64_t chunks = std::min<int64_t>(static_cast<int64_t>(numThreads()) * 4, rows);
  if (chunks == 0) return;
  const int64_t per = (rows + chunks - 1) / chunks;
  std::vector<float> partial(static_cast<size_t>(chunks) * 2 * cols, 0.0f);
  parallelFor(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r0 = c * per, r1 = std::min(rows, r0 + per);
      if (r0 >= r1) continue;
      float* dg = partial.data() + c * 2 * cols;
      backwardRows(x + r0 * cols, gamma, mean + r0, rstd + r0, dy + r0 * cols, dx + r0 * cols, dg,
                   dg + cols, r1 - r0, cols, accumulate);
    }
  });
  for (int64_t c = 0; c < chunks; ++c) {
    const float* dg = partial.data() + c * 2 * cols;
    for (int64_t k = 0; k < cols; ++k) {
      dgamma[k] += dg[k];
      dbeta[k] += dg[cols + k];
    }
  }
}

}  // namespace cskd::cpu
