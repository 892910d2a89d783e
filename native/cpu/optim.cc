#include "cpu/optim.h"

#include <cmath>
#include <vector>

#include "cpu/parallel.h"
#include "cpu/vec_math.h"

namespace cskd::cpu {

namespace {

CSKD_SIMD_CLONES void adamwChunk(float* w, const float* g, float* m, float* v, int64_t n, float gs,
                                 float b1, float b2, float omb1, float omb2, float invBc1,
                                 float invSqrtBc2, float eps, float lr, float decay) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] * gs;
    const float mi = b1 * m[i] + omb1 * gi;
    const float vi = b2 * v[i] + omb2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) * invSqrtBc2 + eps;
    w[i] = w[i] * decay - lr * (mi * invBc1) / denom;
  }
}

CSKD_SIMD_CLONES void emaChunk(float* ema, const float* param, int64_t n, float keep, float take) {
  for (int64_t i = 0; i < n; ++i) ema[i] = keep * ema[i] + take * param[i];
}

}  // namespace

void adamwStep(const AdamWParams& p) {
  const double bc1 = 1.0 - std::pow(p.beta1, static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(p.beta2, static_cast<double>(p.step));
  const float b1 = static_cast<float>(p.beta1), b2 = static_cast<float>(p.beta2);
  const float omb1 = static_cast<float>(1.0 - p.beta1), omb2 = static_cast<float>(1.0 - p.beta2);
  const float eps = static_cast<float>(p.eps), gs = p.gradScale;
  const float invBc1 = static_cast<float>(1.0 / bc1);
  const float invSqrtBc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  for (int64_t s = 0; s < p.numSegments; ++s) {
    const int64_t start = p.segStart[s], len = p.segLength[s];
    const float lr = p.segLr[s], decay = 1.0f - p.segLr[s] * p.segWeightDecay[s];
    parallelFor(len, 32768, [&](int64_t i0, int64_t i1) {
      adamwChunk(p.param + start + i0, p.grad + start + i0, p.m + start + i0, p.v + start + i0,
                 i1 - i0, gs, b1, b2, omb1, omb2, invBc1, invSqrtBc2, eps, lr, decay);
    });
  }
}

double sumOfSquares(const float* x, int64_t n) {
  const int64_t chunk = 65536;
  const int64_t chunks = (n + chunk - 1) / chunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  parallelFor(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t i1 = std::min(n, (c + 1) * chunk);
      double s = 0.0;
      for (int64_t i = c * chunk; i < i1; ++i) s += static_cast<double>(x[i]) * x[i];
      partial[c] = s;
    }
  });
  double s = 0.0;
  for (double v : partial) s += v;
  return s;
}

void emaUpdate(float* ema, const float* param, int64_t n, float decay) {
  parallelFor(n, 32768, [&](int64_t i0, int64_t i1) {
    emaChunk(ema + i0, param + i0, i1 - i0, decay, 1.0f - decay);
  });
}

}  // namespace cskd::cpu
