// Row softmax with an optional temperature: y = softmax(x / T) over each row.
// Backward: dx = (y * (dy - sum(y * dy))) / T.
#pragma once
#include <cstdint>

namespace cskd::cpu {

void softmaxForward(const float* x, float* y, int64_t rows, int64_t cols, float temperature);
void softmaxBackward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols,
                     float temperature);

}  // namespace cskd::cpu
