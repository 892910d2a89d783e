// GELU forward and backward, one thread per element, grid-stride.
//
// The kind is a template parameter so each variant is a straight-line kernel.
// erf uses erff (exact to a few ulp); tanh and quick use tanhf/expf, which
// --use_fast_math maps to the hardware approximations (relative error ~1e-6,
// far inside the float32 budget). The backward recomputes from x rather than
// saving the forward's intermediates: it is bandwidth-bound either way and
// this keeps one tensor less alive.
#include "cuda/common.h"
#include "cuda/gelu.h"

namespace cskd::cuda {
namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;

template <int K>
__device__ __forceinline__ float geluValue(float x) {
  if (K == 0) return 0.5f * x * (1.f + erff(x * kInvSqrt2));
  if (K == 1) {
    float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.f + tanhf(u));
  }
  return x / (1.f + expf(-1.702f * x));
}

template <int K>
__device__ __forceinline__ float geluDerivative(float x) {
  if (K == 0) {
    float cdf = 0.5f * (1.f + erff(x * kInvSqrt2));
    return cdf + x * kInvSqrt2Pi * expf(-0.5f * x * x);
  }
  if (K == 1) {
    float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
    float t = tanhf(u);
    float du = kSqrt2OverPi * (1.f + 3.f * 0.044715f * x * x);
    return 0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * du;
  }
  float s = 1.f / (1.f + expf(-1.702f * x));
  return s + 1.702f * x * s * (1.f - s);
}

template <int K>
__global__ void geluForwardKernel(const float* x, float* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = geluValue<K>(x[i]);
}

template <int K>
__global__ void geluBackwardKernel(const float* x, const float* dy, float* dx, int64_t n,
                                   bool accumulate) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float g = dy[i] * geluDerivative<K>(x[i]);
    dx[i] = accumulate ? dx[i] + g : g;
  }
}

int gridFor(int64_t n) {
  int64_t blocks = ceilDiv(n, 256), cap = int64_t(multiprocessorCount()) * 16;
  return int(std::max<int64_t>(1, std::min(blocks, cap)));
}

}  // namespace

void geluForward(const float* x, float* y, int64_t n, GeluKind kind, cudaStream_t stream) {
  if (n <= 0) return;
  const int g = gridFor(n);
  switch (kind) {
    case GeluKind::Erf:
      geluForwardKernel<0><<<g, 256, 0, stream>>>(x, y, n);
      break;
    case GeluKind::Tanh:
      geluForwardKernel<1><<<g, 256, 0, stream>>>(x, y, n);
      break;
    case GeluKind::Quick:
      geluForwardKernel<2><<<g, 256, 0, stream>>>(x, y, n);
      break;
  }
  CUDA_CHECK_LAUNCH();
}

void geluBackward(const float* x, const float* dy, float* dx, int64_t n, GeluKind kind,
                  bool accumulate, cudaStream_t stream) {
  if (n <= 0) return;
  const int g = gridFor(n);
  switch (kind) {
    case GeluKind::Erf:
      geluBackwardKernel<0><<<g, 256, 0, stream>>>(x, dy, dx, n, accumulate);
      break;
    case GeluKind::Tanh:
      geluBackwardKernel<1><<<g, 256, 0, stream>>>(x, dy, dx, n, accumulate);
      break;
    case GeluKind::Quick:
      geluBackwardKernel<2><<<g, 256, 0, stream>>>(x, dy, dx, n, accumulate);
      break;
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace cskd::cuda
