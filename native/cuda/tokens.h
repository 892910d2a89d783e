// Token assembly and pooling on the GPU; the contracts of cpu/tokens.h.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace cskd::cuda {

void embedTokensForward(const float* patches, const float* cls, const float* pos, float* out,
                        int64_t B, int64_t P, int64_t E, cudaStream_t stream);
// Writes dpatches; adds into dcls and dpos.
void embedTokensBackward(const float* dout, float* dpatches, float* dcls, float* dpos, int64_t B,
                         int64_t P, int64_t E, cudaStream_t stream);

void clsPoolForward(const float* x, float* out, int64_t B, int64_t N, int64_t E,
                    cudaStream_t stream);
void clsPoolBackward(const float* dout, float* dx, int64_t B, int64_t N, int64_t E,
                     cudaStream_t stream);
void meanPoolForward(const float* x, float* out, int64_t B, int64_t N, int64_t E, int64_t start,
                     cudaStream_t stream);
void meanPoolBackward(const float* dout, float* dx, int64_t B, int64_t N, int64_t E, int64_t start,
                      cudaStream_t stream);

}  // namespace cskd::cuda
