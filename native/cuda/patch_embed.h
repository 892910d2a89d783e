// Patchify on the GPU; the layout contract of cpu/patch_embed.h (rows of
// (c, py, px) per patch, patches row-major over the grid). The GEMM with the
// conv weight is a separate gemm() call.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace cskd::cuda {

void patchify(const float* images, float* patches, int64_t B, int64_t C, int64_t H, int64_t W,
              int64_t p, cudaStream_t stream);
// Adjoint of patchify: writes all of dimages (zero outside whole patches).
void patchifyBackward(const float* dpatches, float* dimages, int64_t B, int64_t C, int64_t H,
                      int64_t W, int64_t p, cudaStream_t stream);

}  // namespace cskd::cuda
