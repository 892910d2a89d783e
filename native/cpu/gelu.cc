// GELU forward and backward, vectorised through vec_math.h.
#include "cpu/gelu.h"

#include "cpu/parallel.h"
#include "cpu/vec_math.h"

namespace cskd::cpu {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

CSKD_SIMD_CLONES void forwardChunk(const float* x, float* y, int64_t n, int kind) {
  if (kind == static_cast<int>(GeluKind::Erf)) {
    for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + verf(x[i] * kInvSqrt2));
  } else if (kind == static_cast<int>(GeluKind::Tanh)) {
    for (int64_t i = 0; i < n; ++i) {
      const float v = x[i];
      y[i] = 0.5f * v * (1.0f + vtanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
    }
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * vsigmoid(1.702f * x[i]);
  }
}

template <int Kind>
__attribute__((always_inline)) inline float geluGrad(float v) {
  if constexpr (Kind == static_cast<int>(GeluKind::Erf)) {
    return 0.5f * (1.0f + verf(v * kInvSqrt2)) + v * kInvSqrt2Pi * vexp(-0.5f * v * v);
  } else if constexpr (Kind == static_cast<int>(GeluKind::Tanh)) {
    const float t = vtanh(kSqrt2OverPi * (v + 0.044715f * v * v * v));
    const float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * v * v);
    return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du;
  } else {
    const float s = vsigmoid(1.702f * v);
    return s + 1.702f * v * s * (1.0f - s);
  }
}

// One loop per (kind, accumulate), so no select on dx stops the vectoriser.
template <int Kind, bool Accumulate>
__attribute__((always_inline)) inline void backwardLoop(const float* x, const float* dy, float* dx,
                                                        int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float d = dy[i] * geluGrad<Kind>(x[i]);
    if constexpr (Accumulate) {
      dx[i] += d;
    } else {
      dx[i] = d;
    }
  }
}

CSKD_SIMD_CLONES void backwardChunk(const float* x, const float* dy, float* dx, int64_t n, int kind,
                                    bool accumulate) {
  constexpr int E = static_cast<int>(GeluKind::Erf), T = static_cast<int>(GeluKind::Tanh),
                Q = static_cast<int>(GeluKind::Quick);
  if (kind == E) {
    accumulate ? backwardLoop<E, true>(x, dy, dx, n) : backwardLoop<E, false>(x, dy, dx, n);
  } else if (kind == T) {
    accumulate ? backwardLoop<T, true>(x, dy, dx, n) : backwardLoop<T, false>(x, dy, dx, n);
  } else {
    accumulate ? backwardLoop<Q, true>(x, dy, dx, n) : backwardLoop<Q, false>(x, dy, dx, n);
  }
}

}  // namespace

void geluForward(const float* x, float* y, int64_t n, GeluKind kind) {
  parallelFor(n, 16384, [&](int64_t i0, int64_t i1) {
    forwardChunk(x + i0, y + i0, i1 - i0, static_cast<int>(kind));
  });
}

void geluBackward(const float* x, const float* dy, float* dx, int64_t n, GeluKind kind,
                  bool accumulate) {
  parallelFor(n, 16384, [&](int64_t i0, int64_t i1) {
    backwardChunk(x + i0, dy + i0, dx + i0, i1 - i0, static_cast<int>(kind), accumulate);
  });
}

}  // namespace cskd::cpu
