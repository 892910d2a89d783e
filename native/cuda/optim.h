// Optimizer kernels over flat parameter buffers on the GPU; the contracts of
// cpu/optim.h. In AdamWParams every pointer is a device pointer, the segment
// tables (segStart, segLength, segLr, segWeightDecay) included: upload them
// once per schedule change, not per step.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cpu/optim.h"

namespace cskd::cuda {

using cpu::AdamWParams;

// numel is the extent of the flat buffers (the end of the last segment), passed
// so the launcher never reads the device-side segment table back.
void adamwStep(const AdamWParams& p, int64_t numel, cudaStream_t stream);

// *out = sum of squares of x, accumulated in float64 (device scalar).
void sumOfSquares(const float* x, int64_t n, double* out, cudaStream_t stream);

// ema = decay * ema + (1 - decay) * param
void emaUpdate(float* ema, const float* param, int64_t n, float decay, cudaStream_t stream);

}  // namespace cskd::cuda
