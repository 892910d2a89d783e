// Row softmax, vectorised through vec_math.h (sums in float: rows are short).
#include "cpu/softmax.h"

#include <algorithm>
#include <cmath>

#include "cpu/parallel.h"
#include "cpu/vec_math.h"

namespace cskd::cpu {
namespace {

CSKD_SIMD_CLONES void forwardRows(const float* x, float* y, int64_t rows, int64_t cols,
                                  float invT) {
  expShiftedRows(x, y, rows, cols, invT);
  for (int64_t r = 0; r < rows; ++r) {
    float* yr = y + r * cols;
    float sum = 0.0f;
    for (int64_t c = 0; c < cols; ++c) sum += yr[c];
    const float inv = 1.0f / sum;
    for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
  }
}

CSKD_SIMD_CLONES void backwardRows(const float* y, const float* dy, float* dx, int64_t rows,
                                   int64_t cols, float invT) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* g = dy + r * cols;
    float* d = dx + r * cols;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t c = 0; c < cols; ++c) dot += yr[c] * g[c];
    for (int64_t c = 0; c < cols; ++c) d[c] = yr[c] * (g[c] - dot) * invT;
  }
}

// Rows per task: about 16K values, so short rows are not split finer than pays.
int64_t rowGrain(int64_t cols) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)); }

}  // namespace

CSKD_SIMD_CLONES void expShiftedRows(const float* x, float* e, int64_t rows, int64_t cols,
                                     float invT) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* er = e + r * cols;
    float m = xr[0];
    for (int64_t c = 1; c < cols; ++c) m = xr[c] > m ? xr[c] : m;
    for (int64_t c = 0; c < cols; ++c) er[c] = (xr[c] - m) * invT;
  }
  const int64_t n = rows * cols;
  for (int64_t i = 0; i < n; ++i) e[i] = vexp(e[i]);
}

CSKD_SIMD_CLONES void softmaxRowWithLse(float* row, int64_t n, float* lse) {
  float m = row[0];
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; ++j) m = row[j] > m ? row[j] : m;
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) {
    row[j] = vexp(row[j] - m);
    sum += row[j];
  }
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) row[j] *= inv;
  *lse = m + std::log(sum);
}

CSKD_SIMD_CLONES void expRowMinus(float* row, int64_t n, float lse) {
  for (int64_t j = 0; j < n; ++j) row[j] = vexp(row[j] - lse);
}

void softmaxForward(const float* x, float* y, int64_t rows, int64_t cols, float temperature) {
  const float invT = 1.0f / temperature;
  parallelFor(rows, rowGrain(cols), [&](int64_t r0, int64_t r1) {
    forwardRows(x + r0 * cols, y + r0 * cols, r1 - r0, cols, invT);
  });
}

void softmaxBackward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols,
                     float temperature) {
  const float invT = 1.0f / temperature;
  parallelFor(rows, rowGrain(cols), [&](int64_t r0, int64_t r1) {
    backwardRows(y + r0 * cols, dy + r0 * cols, dx + r0 * cols, r1 - r0, cols, invT);
  });
}

}  // namespace cskd::cpu
