// LayerNorm, one row per task. Statistics in float64 over the row: a row is at
// most a few thousand values, so the cost is small and mean/variance stay exact
// enough that the backward matches a float64 reference to float32 rounding.
#include "cpu/layernorm.h"

#include <cmath>
#include <vector>

#include "cpu/parallel.h"

namespace cskd::cpu {

void layerNormForward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                      float* rstd, int64_t rows, int64_t cols, float eps) {
  parallelFor(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      double s = 0.0;
      for (int64_t c = 0; c < cols; ++c) s += xr[c];
      const double mu = s / static_cast<double>(cols);
      double v = 0.0;
      for (int64_t c = 0; c < cols; ++c) {
        const double d = xr[c] - mu;
        v += d * d;
      }
      const double rs = 1.0 / std::sqrt(v / static_cast<double>(cols) + eps);
      const float m = static_cast<float>(mu), rsf = static_cast<float>(rs);
      for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - m) * rsf * gamma[c] + beta[c];
      mean[r] = m;
      rstd[r] = rsf;
    }
  });
}

void layerNormBackward(const float* x, const float* gamma, const float* mean, const float* rstd,
                       const float* dy, float* dx, float* dgamma, float* dbeta, int64_t rows,
                       int64_t cols, bool accumulate) {
  // dgamma/dbeta are sums over rows: each chunk sums privately, then one merge.
  const int threads = numThreads();
  std::vector<float> partial(static_cast<size_t>(threads) * 4 * 2 * cols, 0.0f);
  std::vector<int> used(static_cast<size_t>(threads) * 4, 0);
  const int64_t chunks = static_cast<int64_t>(threads) * 4;
  const int64_t per = (rows + chunks - 1) / chunks;
  parallelFor(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r0 = c * per, r1 = std::min(rows, r0 + per);
      if (r0 >= r1) continue;
      used[c] = 1;
      float* dg = partial.data() + c * 2 * cols;
      float* db = dg + cols;
      for (int64_t r = r0; r < r1; ++r) {
        const float* xr = x + r * cols;
        const float* g = dy + r * cols;
        float* dxr = dx + r * cols;
        const float m = mean[r], rs = rstd[r];
        // dxhat = dy * gamma; dx = rs * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
        double a = 0.0, b = 0.0;
        for (int64_t k = 0; k < cols; ++k) {
          const float xhat = (xr[k] - m) * rs;
          const float dxhat = g[k] * gamma[k];
          a += dxhat;
          b += static_cast<double>(dxhat) * xhat;
          dg[k] += g[k] * xhat;
          db[k] += g[k];
        }
        const float ma = static_cast<float>(a / cols), mb = static_cast<float>(b / cols);
        for (int64_t k = 0; k < cols; ++k) {
          const float xhat = (xr[k] - m) * rs;
          const float v = rs * (g[k] * gamma[k] - ma - xhat * mb);
          dxr[k] = accumulate ? dxr[k] + v : v;
        }
      }
    }
  });
  for (int64_t c = 0; c < chunks; ++c) {
    if (!used[c]) continue;
    const float* dg = partial.data() + c * 2 * cols;
    for (int64_t k = 0; k < cols; ++k) {
      dgamma[k] += dg[k];
      dbeta[k] += dg[cols + k];
    }
  }
}

}  // namespace cskd::cpu
