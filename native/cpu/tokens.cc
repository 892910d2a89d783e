#include "cpu/tokens.h"

#include <cstring>

#include "cpu/parallel.h"

namespace cskd::cpu {

void embedTokensForward(const float* patches, const float* cls, const float* pos, float* out,
                        int64_t B, int64_t P, int64_t E) {
  const int64_t N = P + 1;
  parallelFor(B * N, 64, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / N, n = t % N;
      const float* src = n == 0 ? cls : patches + (b * P + n - 1) * E;
      const float* pe = pos + n * E;
      float* dst = out + t * E;
      for (int64_t e = 0; e < E; ++e) dst[e] = src[e] + pe[e];
    }
  });
}

void embedTokensBackward(const float* dout, float* dpatches, float* dcls, float* dpos, int64_t B,
                         int64_t P, int64_t E) {
  const int64_t N = P + 1;
  parallelFor(B * P, 64, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / P, i = t % P;
      std::memcpy(dpatches + t * E, dout + (b * N + 1 + i) * E, E * sizeof(float));
    }
  });
  // Sums over the batch, split by token so threads never share an output row.
  parallelFor(N, 4, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      float* dp = dpos + n * E;
      for (int64_t b = 0; b < B; ++b) {
        const float* g = dout + (b * N + n) * E;
        for (int64_t e = 0; e < E; ++e) dp[e] += g[e];
        if (n == 0)
          for (int64_t e = 0; e < E; ++e) dcls[e] += g[e];
      }
    }
  });
}

void clsPoolForward(const float* x, float* out, int64_t B, int64_t N, int64_t E) {
  for (int64_t b = 0; b < B; ++b) std::memcpy(out + b * E, x + b * N * E, E * sizeof(float));
}

void clsPoolBackward(const float* dout, float* dx, int64_t B, int64_t N, int64_t E) {
  std::memset(dx, 0, B * N * E * sizeof(float));
  for (int64_t b = 0; b < B; ++b) std::memcpy(dx + b * N * E, dout + b * E, E * sizeof(float));
}

void meanPoolForward(const float* x, float* out, int64_t B, int64_t N, int64_t E, int64_t start) {
  const float inv = 1.0f / static_cast<float>(N - start);
  parallelFor(B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* o = out + b * E;
      std::memset(o, 0, E * sizeof(float));
      for (int64_t n = start; n < N; ++n) {
        const float* r = x + (b * N + n) * E;
        for (int64_t e = 0; e < E; ++e) o[e] += r[e];
      }
      for (int64_t e = 0; e < E; ++e) o[e] *= inv;
    }
  });
}

void meanPoolBackward(const float* dout, float* dx, int64_t B, int64_t N, int64_t E,
                      int64_t start) {
  const float inv = 1.0f / static_cast<float>(N - start);
  parallelFor(B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t n = 0; n < N; ++n) {
        float* r = dx + (b * N + n) * E;
        const float* g = dout + b * E;
        if (n < start) {
          std::memset(r, 0, E * sizeof(float));
        } else {
          for (int64_t e = 0; e < E; ++e) r[e] = g[e] * inv;
        }
      }
  });
}

}  // namespace cskd::cpu
