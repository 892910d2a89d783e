#include "cpu/elementwise.h"

#include <vector>

#include "cpu/parallel.h"

namespace cskd::cpu {

constexpr int64_t kGrain = 32768;

void add(const float* a, const float* b, float* out, int64_t n) {
  parallelFor(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) out[i] = a[i] + b[i];
  });
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
  parallelFor(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] += alpha * x[i];
  });
}

void scale(float* x, int64_t n, float alpha) {
  parallelFor(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) x[i] *= alpha;
  });
}

void biasAdd(const float* x, const float* bias, float* out, int64_t rows, int64_t cols) {
  parallelFor(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(cols, 1)),
              [&](int64_t r0, int64_t r1) {
                for (int64_t r = r0; r < r1; ++r)
                  for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = x[r * cols + c] + bias[c];
              });
}

void biasGradient(const float* dy, float* dbias, int64_t rows, int64_t cols, bool accumulate) {
  // Column sums: split the columns across threads so no merge is needed.
  parallelFor(cols, 16, [&](int64_t c0, int64_t c1) {
    std::vector<double> acc(static_cast<size_t>(c1 - c0), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = dy + r * cols;
      for (int64_t c = c0; c < c1; ++c) acc[c - c0] += row[c];
    }
    for (int64_t c = c0; c < c1; ++c) {
      const float v = static_cast<float>(acc[c - c0]);
      dbias[c] = accumulate ? dbias[c] + v : v;
    }
  });
}

}  // namespace cskd::cpu
