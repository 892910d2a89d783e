// GELU on the GPU, forward and backward; the same forms and contracts as
// cpu/gelu.h (GeluKind is shared).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cpu/gelu.h"

namespace cskd::cuda {

using cpu::GeluKind;

void geluForward(const float* x, float* y, int64_t n, GeluKind kind, cudaStream_t stream);
// dx = dy * gelu'(x); with accumulate, dx += that.
void geluBackward(const float* x, const float* dy, float* dx, int64_t n, GeluKind kind,
                  bool accumulate, cudaStream_t stream);

}  // namespace cskd::cuda
