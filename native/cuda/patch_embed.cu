// Patchify and its adjoint: pure index permutations.
//
// Both kernels run one thread per pixel in image order, so the image side is
// read (forward) or written (backward) fully coalesced; the patch side moves
// in runs of p consecutive floats (one patch row). Patches never overlap, so
// the backward is a gather with no atomics, and pixels outside whole patches
// (H or W not a multiple of p) get zero.
#include "cuda/common.h"
#include "cuda/patch_embed.h"

namespace cskd::cuda {
namespace {

// Index of pixel (b, c, y, x)'s value in the patch matrix, or -1 when the pixel
// lies outside the whole patches.
__device__ __forceinline__ int64_t patchIndex(int64_t b, int64_t c, int64_t y, int64_t x, int64_t C,
                                              int64_t p, int64_t gh, int64_t gw) {
  const int64_t gy = y / p, gx = x / p;
  if (gy >= gh || gx >= gw) return -1;
  const int64_t row = (b * gh + gy) * gw + gx;
  const int64_t col = (c * p + (y - gy * p)) * p + (x - gx * p);
  return row * (C * p * p) + col;
}

__global__ void patchifyKernel(const float* images, float* patches, int64_t B, int64_t C, int64_t H,
                               int64_t W, int64_t p) {
  const int64_t gh = H / p, gw = W / p, total = B * C * H * W;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t x = i % W, t = i / W;
    int64_t y = t % H;
    t /= H;
    int64_t c = t % C, b = t / C;
    int64_t j = patchIndex(b, c, y, x, C, p, gh, gw);
    if (j >= 0) patches[j] = images[i];
  }
}

__global__ void patchifyBackwardKernel(const float* dpatches, float* dimages, int64_t B, int64_t C,
                                       int64_t H, int64_t W, int64_t p) {
  const int64_t gh = H / p, gw = W / p, total = B * C * H * W;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t x = i % W, t = i / W;
    int64_t y = t % H;
    t /= H;
    int64_t c = t % C, b = t / C;
    int64_t j = patchIndex(b, c, y, x, C, p, gh, gw);
    dimages[i] = j >= 0 ? dpatches[j] : 0.f;
  }
}

int gridFor(int64_t n) {
  return int(std::max<int64_t>(1, std::min(ceilDiv(n, 256), int64_t(multiprocessorCount()) * 16)));
}

}  // namespace

void patchify(const float* images, float* patches, int64_t B, int64_t C, int64_t H, int64_t W,
              int64_t p, cudaStream_t stream) {
  const int64_t n = B * C * H * W;
  if (n <= 0) return;
  patchifyKernel<<<gridFor(n), 256, 0, stream>>>(images, patches, B, C, H, W, p);
  CUDA_CHECK_LAUNCH();
}

void patchifyBackward(const float* dpatches, float* dimages, int64_t B, int64_t C, int64_t H,
                      int64_t W, int64_t p, cudaStream_t stream) {
  const int64_t n = B * C * H * W;
  if (n <= 0) return;
  patchifyBackwardKernel<<<gridFor(n), 256, 0, stream>>>(dpatches, dimages, B, C, H, W, p);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cskd::cuda
