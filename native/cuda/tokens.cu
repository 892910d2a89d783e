// Token assembly (CLS + patches + position embeddings) and pooling.
//
// Threads run along E, so every access is coalesced. The backward of
// embedTokens gives each thread one (token, e) and a loop over the batch: it
// writes dpatches for every image and sums the batch for dpos/dcls itself, so
// the parameter gradients need no atomics and come out deterministic. The
// pooling backwards write all of dx (zeros where the pool did not look), as
// the CPU contract says.
#include "cuda/common.h"
#include "cuda/tokens.h"

namespace cskd::cuda {
namespace {

int gridFor(int64_t n) {
  return int(std::max<int64_t>(1, std::min(ceilDiv(n, 256), int64_t(multiprocessorCount()) * 16)));
}

__global__ void embedForwardKernel(const float* patches, const float* cls, const float* pos,
                                   float* out, int64_t B, int64_t P, int64_t E) {
  const int64_t T = P + 1, total = B * T * E;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t e = i % E, t = (i / E) % T, b = i / (E * T);
    float v = t == 0 ? cls[e] : patches[(b * P + t - 1) * E + e];
    out[i] = v + pos[t * E + e];
  }
}

__global__ void embedBackwardKernel(const float* dout, float* dpatches, float* dcls, float* dpos,
                                    int64_t B, int64_t P, int64_t E) {
  const int64_t T = P + 1, total = T * E;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t e = i % E, t = i / E;
    float s = 0.f;
    for (int64_t b = 0; b < B; ++b) {
      float g = dout[(b * T + t) * E + e];
      s += g;
      if (t > 0) dpatches[(b * P + t - 1) * E + e] = g;
    }
    dpos[i] += s;
    if (t == 0) dcls[e] += s;
  }
}

__global__ void clsPoolForwardKernel(const float* x, float* out, int64_t B, int64_t N, int64_t E) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * E;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = x[(i / E) * N * E + i % E];
}

__global__ void poolBackwardKernel(const float* dout, float* dx, int64_t B, int64_t N, int64_t E,
                                   int64_t start, int64_t end, float weight) {
  const int64_t total = B * N * E;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t e = i % E, n = (i / E) % N, b = i / (E * N);
    dx[i] = n >= start && n < end ? dout[b * E + e] * weight : 0.f;
  }
}

__global__ void meanPoolForwardKernel(const float* x, float* out, int64_t B, int64_t N, int64_t E,
                                      int64_t start) {
  const float inv = 1.f / float(N - start);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * E;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t b = i / E, e = i % E;
    float s = 0.f;
    for (int64_t n = start; n < N; ++n) s += x[(b * N + n) * E + e];
    out[i] = s * inv;
  }
}

}  // namespace

void embedTokensForward(const float* patches, const float* cls, const float* pos, float* out,
                        int64_t B, int64_t P, int64_t E, cudaStream_t stream) {
  const int64_t n = B * (P + 1) * E;
  if (n <= 0) return;
  embedForwardKernel<<<gridFor(n), 256, 0, stream>>>(patches, cls, pos, out, B, P, E);
  CUDA_CHECK_LAUNCH();
}

void embedTokensBackward(const float* dout, float* dpatches, float* dcls, float* dpos, int64_t B,
                         int64_t P, int64_t E, cudaStream_t stream) {
  const int64_t n = (P + 1) * E;
  if (n <= 0) return;
  embedBackwardKernel<<<unsigned(ceilDiv(n, 256)), 256, 0, stream>>>(dout, dpatches, dcls, dpos, B,
                                                                     P, E);
  CUDA_CHECK_LAUNCH();
}

void clsPoolForward(const float* x, float* out, int64_t B, int64_t N, int64_t E,
                    cudaStream_t stream) {
  if (B * E <= 0) return;
  clsPoolForwardKernel<<<gridFor(B * E), 256, 0, stream>>>(x, out, B, N, E);
  CUDA_CHECK_LAUNCH();
}

void clsPoolBackward(const float* dout, float* dx, int64_t B, int64_t N, int64_t E,
                     cudaStream_t stream) {
  if (B * N * E <= 0) return;
  poolBackwardKernel<<<gridFor(B * N * E), 256, 0, stream>>>(dout, dx, B, N, E, 0, 1, 1.f);
  CUDA_CHECK_LAUNCH();
}

void meanPoolForward(const float* x, float* out, int64_t B, int64_t N, int64_t E, int64_t start,
                     cudaStream_t stream) {
  if (B * E <= 0) return;
  meanPoolForwardKernel<<<unsigned(ceilDiv(B * E, 256)), 256, 0, stream>>>(x, out, B, N, E, start);
  CUDA_CHECK_LAUNCH();
}

void meanPoolBackward(const float* dout, float* dx, int64_t B, int64_t N, int64_t E, int64_t start,
                      cudaStream_t stream) {
  if (B * N * E <= 0) return;
  poolBackwardKernel<<<gridFor(B * N * E), 256, 0, stream>>>(dout, dx, B, N, E, start, N,
                                                             1.f / float(N - start));
  CUDA_CHECK_LAUNCH();
}

}  // namespace cskd::cuda
