#include "cpu/elementwise.h"

#include <algorithm>
#include <vector>

#include "cpu/parallel.h"
#include "cpu/vec_math.h"

namespace cskd::cpu {

constexpr int64_t kGrain = 32768;

namespace {

CSKD_SIMD_CLONES void columnSums(const float* dy, float* acc, int64_t r0, int64_t r1,
                                 int64_t cols) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = dy + r * cols;
    for (int64_t c = 0; c < cols; ++c) acc[c] += row[c];
  }
}

}  // namespace

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
  // Column sums: chunks of rows sum privately (float lanes), then one merge in
  // float64 in chunk order, so the result does not depend on scheduling.
  const int64_t chunks = std::min<int64_t>(static_cast<int64_t>(numThreads()) * 4, rows);
  std::vector<float> partial(static_cast<size_t>(std::max<int64_t>(chunks, 1)) * cols, 0.0f);
  const int64_t per = chunks > 0 ? (rows + chunks - 1) / chunks : 0;
  parallelFor(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      columnSums(dy, partial.data() + c * cols, c * per, std::min(rows, (c + 1) * per), cols);
  });
  for (int64_t k = 0; k < cols; ++k) {
    double s = 0.0;
    for (int64_t c = 0; c < chunks; ++c) s += partial[c * cols + k];
    dbias[k] = accumulate ? dbias[k] + static_cast<float>(s) : static_cast<float>(s);
  }
}

}  // namespace cskd::cpu
