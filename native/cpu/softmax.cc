#include "cpu/softmax.h"

#include <cmath>

#include "cpu/parallel.h"

namespace cskd::cpu {

void softmaxForward(const float* x, float* y, int64_t rows, int64_t cols, float temperature) {
  const float invT = 1.0f / temperature;
  parallelFor(rows, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      float m = xr[0];
      for (int64_t c = 1; c < cols; ++c) m = std::max(m, xr[c]);
      double sum = 0.0;
      for (int64_t c = 0; c < cols; ++c) {
        yr[c] = std::exp((xr[c] - m) * invT);
        sum += yr[c];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
    }
  });
}

void softmaxBackward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols,
                     float temperature) {
  const float invT = 1.0f / temperature;
  parallelFor(rows, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* yr = y + r * cols;
      const float* g = dy + r * cols;
      float* d = dx + r * cols;
      double dot = 0.0;
      for (int64_t c = 0; c < cols; ++c) dot += static_cast<double>(yr[c]) * g[c];
      const float s = static_cast<float>(dot);
      for (int64_t c = 0; c < cols; ++c) d[c] = yr[c] * (g[c] - s) * invT;
    }
  });
}

}  // namespace cskd::cpu
