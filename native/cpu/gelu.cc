#include "cpu/gelu.h"

#include <cmath>

#include "cpu/parallel.h"

namespace cskd::cpu {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

inline float gelu(float x, GeluKind kind) {
  switch (kind) {
    case GeluKind::Erf:
      return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2));
    case GeluKind::Tanh:
      return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
    case GeluKind::Quick:
    default:
      return x / (1.0f + std::exp(-1.702f * x));
  }
}

inline float geluGrad(float x, GeluKind kind) {
  switch (kind) {
    case GeluKind::Erf:
      return 0.5f * (1.0f + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(-0.5f * x * x);
    case GeluKind::Tanh: {
      const float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
      const float t = std::tanh(u);
      const float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
      return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    case GeluKind::Quick:
    default: {
      const float s = 1.0f / (1.0f + std::exp(-1.702f * x));
      return s + 1.702f * x * s * (1.0f - s);
    }
  }
}

}  // namespace

void geluForward(const float* x, float* y, int64_t n, GeluKind kind) {
  parallelFor(n, 16384, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] = gelu(x[i], kind);
  });
}

void geluBackward(const float* x, const float* dy, float* dx, int64_t n, GeluKind kind,
                  bool accumulate) {
  parallelFor(n, 16384, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float g = dy[i] * geluGrad(x[i], kind);
      dx[i] = accumulate ? dx[i] + g : g;
    }
  });
}

}  // namespace cskd::cpu
