#include "cpu/resample.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace cskd::cpu {
namespace {

// Catmull-Rom (Keys, a = -0.5), support [-2, 2].
double cubic(double t) {
  t = std::fabs(t);
  if (t < 1.0) return (1.5 * t - 2.5) * t * t + 1.0;
  if (t < 2.0) return ((-0.5 * t + 2.5) * t - 4.0) * t + 2.0;
  return 0.0;
}

// Taps of one axis: for output o, source indices first[o] .. first[o] + taps - 1
// (already clamped) with normalised weights.
struct Taps {
  int taps = 0;
  std::vector<int64_t> index;  // out * taps
  std::vector<float> weight;   // out * taps
};

Taps axisTaps(const ResampleAxis& a, int64_t out) {
  const double widen = std::max(1.0, a.step);
  const double radius = 2.0 * widen;
  Taps t;
  t.taps = static_cast<int>(std::ceil(radius)) * 2 + 1;
  t.index.resize(out * t.taps);
  t.weight.resize(out * t.taps);
  std::vector<double> w(t.taps);
  for (int64_t o = 0; o < out; ++o) {
    const double c = a.origin + (static_cast<double>(o) + 0.5) * a.step - 0.5;
    const int64_t first = static_cast<int64_t>(std::floor(c - radius)) + 1;
    double sum = 0.0;
    for (int k = 0; k < t.taps; ++k) sum += w[k] = cubic((first + k - c) / widen);
    for (int k = 0; k < t.taps; ++k) {
      t.index[o * t.taps + k] = std::clamp<int64_t>(first + k, a.lo, a.hi);
      t.weight[o * t.taps + k] = static_cast<float>(w[k] / sum);
    }
  }
  return t;
}

}  // namespace

void resampleView(const ViewResample& v) {
  const int64_t S = v.size;
  const Taps tx = axisTaps(v.x, S), ty = axisTaps(v.y, S);
  // Horizontal pass over the source rows the vertical taps touch.
  const int64_t r0 = v.y.lo, rows = v.y.hi - v.y.lo + 1;
  std::vector<uint8_t> used(rows, 0);
  for (int64_t r : ty.index) used[r - r0] = 1;
  std::vector<float> mid(rows * S * 3);
  for (int64_t r = 0; r < rows; ++r) {
    if (!used[r]) continue;
    const uint8_t* row = v.src + (r0 + r) * v.width * 3;
    float* m = mid.data() + r * S * 3;
    for (int64_t o = 0; o < S; ++o) {
      float acc[3] = {0.0f, 0.0f, 0.0f};
      for (int k = 0; k < tx.taps; ++k) {
        const float w = tx.weight[o * tx.taps + k];
        const uint8_t* p = row + tx.index[o * tx.taps + k] * 3;
        acc[0] += w * p[0];
        acc[1] += w * p[1];
        acc[2] += w * p[2];
      }
      m[o * 3 + 0] = acc[0];
      m[o * 3 + 1] = acc[1];
      m[o * 3 + 2] = acc[2];
    }
  }
  // Vertical pass, 8-bit rounding (a decoded view is uchar), normalisation.
  const int64_t plane = S * S;
  float scale[3], shift[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.0f / (255.0f * v.std[c]);
    shift[c] = -v.mean[c] / v.std[c];
  }
  for (int64_t oy = 0; oy < S; ++oy) {
    for (int64_t ox = 0; ox < S; ++ox) {
      float acc[3] = {0.0f, 0.0f, 0.0f};
      for (int k = 0; k < ty.taps; ++k) {
        const float w = ty.weight[oy * ty.taps + k];
        const float* m = mid.data() + ((ty.index[oy * ty.taps + k] - r0) * S + ox) * 3;
        acc[0] += w * m[0];
        acc[1] += w * m[1];
        acc[2] += w * m[2];
      }
      const int64_t dx = v.flip ? S - 1 - ox : ox;
      for (int c = 0; c < 3; ++c) {
        const float q = std::nearbyint(std::clamp(acc[c], 0.0f, 255.0f));
        v.out[c * plane + oy * S + dx] = q * scale[c] + shift[c];
      }
    }
  }
}

}  // namespace cskd::cpu
