// Patch embedding = patchify + GEMM with the conv weight viewed as [E, C*p*p].
// patchify rearranges images [B, C, H, W] into rows [B * gh * gw, C * p * p]
// in (c, py, px) order, which is PyTorch's Conv2d weight order, with patches
// row-major over the grid (gh = H / p, gw = W / p). patchifyBackward is its
// adjoint (writes dimages; pixels outside whole patches get zero).
#pragma once
#include <cstdint>

namespace cskd::cpu {

void patchify(const float* images, float* patches, int64_t B, int64_t C, int64_t H, int64_t W,
              int64_t p);
void patchifyBackward(const float* dpatches, float* dimages, int64_t B, int64_t C, int64_t H,
                      int64_t W, int64_t p);

}  // namespace cskd::cpu
