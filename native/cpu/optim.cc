#include "cpu/optim.h"

#include <cmath>
#include <vector>

#include "cpu/parallel.h"

namespace cskd::cpu {

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
    float* w = p.param + start;
    const float* g = p.grad + start;
    float* m = p.m + start;
    float* v = p.v + start;
    parallelFor(len, 32768, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const float gi = g[i] * gs;
        const float mi = b1 * m[i] + omb1 * gi;
        const float vi = b2 * v[i] + omb2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        const float denom = std::sqrt(vi) * invSqrtBc2 + eps;
        w[i] = w[i] * decay - lr * (mi * invBc1) / denom;
      }
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
  const float keep = decay, take = 1.0f - decay;
  parallelFor(n, 32768, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) ema[i] = keep * ema[i] + take * param[i];
  });
}

}  // namespace cskd::cpu
