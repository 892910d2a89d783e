// GELU in the three forms our models use, forward and backward:
//   erf   x * Phi(x)                                   (timm, PyTorch default)
//   tanh  0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
//   quick x * sigmoid(1.702 x)                         (OpenAI CLIP)
#pragma once
#include <cstdint>

namespace cskd::cpu {

enum class GeluKind : int { Erf = 0, Tanh = 1, Quick = 2 };

void geluForward(const float* x, float* y, int64_t n, GeluKind kind);
// dx = dy * gelu'(x); with accumulate, dx += that.
void geluBackward(const float* x, const float* dy, float* dx, int64_t n, GeluKind kind,
                  bool accumulate);

}  // namespace cskd::cpu
