// Row softmax with temperature on the GPU; the contract of cpu/softmax.h.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace cskd::cuda {

void softmaxForward(const float* x, float* y, int64_t rows, int64_t cols, float temperature,
                    cudaStream_t stream);
void softmaxBackward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols,
                     float temperature, cudaStream_t stream);

}  // namespace cskd::cuda
