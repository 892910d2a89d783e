// AdamW over segments, the gradient norm, and the EMA of weights.
//
// AdamW: one launch covers every segment. Each block takes a contiguous chunk
// of the flat buffer; its first thread finds the segment holding the chunk's
// first element by binary search over segStart (device memory, cached), and the
// block then walks the chunk segment by segment, so the per-element work is a
// plain fused update: 4 loads and 3 stores of float32, the floor is memory
// bandwidth. Elements between segments are left alone. Bias corrections are
// computed once on the host, in double, as in PyTorch.
//
// sumOfSquares accumulates in float64 per thread and per block (partials in
// scratch, then one block), matching the CPU kernel's float64 accumulation.
#include <cmath>

#include "cuda/allocator.h"
#include "cuda/common.h"
#include "cuda/optim.h"

namespace cskd::cuda {
namespace {

constexpr int kChunk = 4096;  // elements per block

__device__ int64_t findSegment(const int64_t* start, int64_t count, int64_t i) {
  // last segment whose start <= i, or -1
  int64_t lo = 0, hi = count;
  while (lo < hi) {
    int64_t mid = (lo + hi) >> 1;
    if (start[mid] <= i)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo - 1;
}

// Coefficients rounded to float on the host from the double hyper-parameters
// (1 - beta2 taken in double: from float(0.999) it would be 1.3e-5 off).
struct AdamCoeffs {
  float b1, omb1, b2, omb2, eps, invBc1, invSqrtBc2;
};

__global__ void adamwKernel(AdamWParams p, AdamCoeffs k, int64_t total) {
  __shared__ int64_t firstSeg;
  const int64_t begin = blockIdx.x * int64_t(kChunk);
  const int64_t end = min(total, begin + kChunk);
  if (threadIdx.x == 0) firstSeg = findSegment(p.segStart, p.numSegments, begin);
  __syncthreads();
  int64_t seg = max(firstSeg, int64_t(0));
  for (; seg < p.numSegments; ++seg) {
    const int64_t s0 = p.segStart[seg], s1 = s0 + p.segLength[seg];
    if (s0 >= end) break;
    const int64_t a = max(s0, begin), b = min(s1, end);
    const float lr = p.segLr[seg], wd = p.segWeightDecay[seg];
    const float decay = 1.f - lr * wd;
    for (int64_t i = a + threadIdx.x; i < b; i += blockDim.x) {
      float g = p.grad[i] * p.gradScale;
      float m = k.b1 * p.m[i] + k.omb1 * g;
      float v = k.b2 * p.v[i] + k.omb2 * g * g;
      p.m[i] = m;
      p.v[i] = v;
      const float denom = sqrtf(v) * k.invSqrtBc2 + k.eps;  // as PyTorch: sqrt(v)/sqrt(bc2) + eps
      p.param[i] = p.param[i] * decay - lr * (m * k.invBc1) / denom;
    }
  }
}

__global__ void sumSquaresPartial(const float* x, int64_t n, double* partial) {
  __shared__ double scratch[32];
  double s = 0.0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    double v = x[i];
    s += v * v;
  }
  s = blockSum(s, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sumPartialsDouble(const double* partial, int count, double* out) {
  __shared__ double scratch[32];
  double s = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) s += partial[i];
  s = blockSum(s, scratch);
  if (threadIdx.x == 0) *out = s;
}

__global__ void emaKernel(float* ema, const float* param, int64_t n, float decay) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    ema[i] = decay * ema[i] + (1.f - decay) * param[i];
}

}  // namespace

void adamwStep(const AdamWParams& p, int64_t numel, cudaStream_t stream) {
  const int64_t total = numel;
  if (p.numSegments <= 0 || total <= 0) return;
  AdamCoeffs k;
  k.b1 = float(p.beta1), k.omb1 = float(1.0 - double(p.beta1));
  k.b2 = float(p.beta2), k.omb2 = float(1.0 - double(p.beta2));
  k.eps = float(p.eps);
  const double bc1 = 1.0 - std::pow(double(p.beta1), double(p.step));
  const double bc2 = 1.0 - std::pow(double(p.beta2), double(p.step));
  k.invBc1 = float(1.0 / bc1), k.invSqrtBc2 = float(1.0 / std::sqrt(bc2));
  adamwKernel<<<unsigned(ceilDiv(total, kChunk)), 256, 0, stream>>>(p, k, total);
  CUDA_CHECK_LAUNCH();
}

void sumOfSquares(const float* x, int64_t n, double* out, cudaStream_t stream) {
  const int blocks =
      int(std::max<int64_t>(1, std::min(ceilDiv(n, 256), int64_t(multiprocessorCount()) * 4)));
  DeviceScratch partial(sizeof(double) * blocks);
  sumSquaresPartial<<<blocks, 256, 0, stream>>>(x, n, partial.as<double>());
  CUDA_CHECK_LAUNCH();
  sumPartialsDouble<<<1, 256, 0, stream>>>(partial.as<double>(), blocks, out);
  CUDA_CHECK_LAUNCH();
}

void emaUpdate(float* ema, const float* param, int64_t n, float decay, cudaStream_t stream) {
  if (n <= 0) return;
  const int blocks =
      int(std::max<int64_t>(1, std::min(ceilDiv(n, 256), int64_t(multiprocessorCount()) * 16)));
  emaKernel<<<blocks, 256, 0, stream>>>(ema, param, n, decay);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cskd::cuda
