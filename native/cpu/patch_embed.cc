#include "cpu/patch_embed.h"

#include <cstring>

#include "cpu/parallel.h"

namespace cskd::cpu {

void patchify(const float* images, float* patches, int64_t B, int64_t C, int64_t H, int64_t W,
              int64_t p) {
  const int64_t gh = H / p, gw = W / p, row = C * p * p;
  parallelFor(B * gh, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / gh, py = t % gh;
      for (int64_t px = 0; px < gw; ++px) {
        float* dst = patches + ((b * gh + py) * gw + px) * row;
        for (int64_t c = 0; c < C; ++c)
          for (int64_t y = 0; y < p; ++y) {
            const float* src = images + ((b * C + c) * H + py * p + y) * W + px * p;
            std::memcpy(dst + (c * p + y) * p, src, p * sizeof(float));
          }
      }
    }
  });
}

void patchifyBackward(const float* dpatches, float* dimages, int64_t B, int64_t C, int64_t H,
                      int64_t W, int64_t p) {
  const int64_t gh = H / p, gw = W / p, row = C * p * p;
  parallelFor(B, 1, [&](int64_t b0, int64_t b1) {
    std::memset(dimages + b0 * C * H * W, 0, (b1 - b0) * C * H * W * sizeof(float));
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t py = 0; py < gh; ++py)
        for (int64_t px = 0; px < gw; ++px) {
          const float* src = dpatches + ((b * gh + py) * gw + px) * row;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t y = 0; y < p; ++y) {
              float* dst = dimages + ((b * C + c) * H + py * p + y) * W + px * p;
              std::memcpy(dst, src + (c * p + y) * p, p * sizeof(float));
            }
        }
  });
}

}  // namespace cskd::cpu
