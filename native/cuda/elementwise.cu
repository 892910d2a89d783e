// Elementwise adds, forward and backward.
//
// These are pure bandwidth: each thread moves 16-byte vectors when every
// pointer is 16-byte aligned (the common case, buffers come from cudaMalloc),
// and falls back to scalar accesses otherwise. Grids are capped at a few waves
// and stride over the data, so launch cost stays flat for any size.
//
// biasGradient is a column sum over rows. One block per 32 columns would leave
// most of the GPU idle for [65536, 768], so rows are split into chunks: each
// block sums one chunk of rows for 32 columns (deterministically, in a fixed
// order), partials land in scratch, and a second pass adds them up. No
// atomics, so the result is the same from run to run.
#include "cuda/allocator.h"
#include "cuda/common.h"
#include "cuda/elementwise.h"

namespace cskd::cuda {
namespace {

constexpr int kThreads = 256;

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

inline int gridFor(int64_t work) {
  int64_t blocks = ceilDiv(work, kThreads);
  int64_t cap = int64_t(multiprocessorCount()) * 8;
  return int(blocks < cap ? (blocks < 1 ? 1 : blocks) : cap);
}

template <typename Op>
__global__ void mapVec4(int64_t n4, Op op) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4;
       i += int64_t(gridDim.x) * blockDim.x)
    op.vec(i);
}

template <typename Op>
__global__ void mapScalar(int64_t begin, int64_t n, Op op) {
  for (int64_t i = begin + blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    op.one(i);
}

struct AddOp {
  const float *a, *b;
  float* out;
  __device__ void vec(int64_t i) const {
    float4 x = reinterpret_cast<const float4*>(a)[i], y = reinterpret_cast<const float4*>(b)[i];
    reinterpret_cast<float4*>(out)[i] = make_float4(x.x + y.x, x.y + y.y, x.z + y.z, x.w + y.w);
  }
  __device__ void one(int64_t i) const { out[i] = a[i] + b[i]; }
};

struct AxpyOp {
  float alpha;
  const float* x;
  float* y;
  __device__ void vec(int64_t i) const {
    float4 u = reinterpret_cast<const float4*>(x)[i];
    float4 v = reinterpret_cast<float4*>(y)[i];
    v.x = fmaf(alpha, u.x, v.x), v.y = fmaf(alpha, u.y, v.y);
    v.z = fmaf(alpha, u.z, v.z), v.w = fmaf(alpha, u.w, v.w);
    reinterpret_cast<float4*>(y)[i] = v;
  }
  __device__ void one(int64_t i) const { y[i] = fmaf(alpha, x[i], y[i]); }
};

struct ScaleOp {
  float alpha;
  float* x;
  __device__ void vec(int64_t i) const {
    float4 v = reinterpret_cast<float4*>(x)[i];
    reinterpret_cast<float4*>(x)[i] =
        make_float4(v.x * alpha, v.y * alpha, v.z * alpha, v.w * alpha);
  }
  __device__ void one(int64_t i) const { x[i] *= alpha; }
};

struct FillOp {
  float value;
  float* x;
  __device__ void vec(int64_t i) const {
    reinterpret_cast<float4*>(x)[i] = make_float4(value, value, value, value);
  }
  __device__ void one(int64_t i) const { x[i] = value; }
};

// Raises *flag (to 1) when an element is NaN or infinite. Every writer stores
// the same value, so the race between them is benign; the comparison is false
// for NaN and for +-Inf alike.
struct NonFiniteOp {
  const float* x;
  float* flag;
  __device__ static bool bad(float v) { return !(fabsf(v) <= 3.402823466e38f); }
  __device__ void vec(int64_t i) const {
    float4 v = reinterpret_cast<const float4*>(x)[i];
    if (bad(v.x) || bad(v.y) || bad(v.z) || bad(v.w)) *flag = 1.f;
  }
  __device__ void one(int64_t i) const {
    if (bad(x[i])) *flag = 1.f;
  }
};

// Runs op over n elements: vectors over the first n/4*4 if allowed, scalars after.
template <typename Op>
void launchMap(const Op& op, int64_t n, bool vec, cudaStream_t stream) {
  if (n <= 0) return;
  int64_t done = 0;
  if (vec && n >= 4) {
    int64_t n4 = n / 4;
    mapVec4<<<gridFor(n4), kThreads, 0, stream>>>(n4, op);
    CUDA_CHECK_LAUNCH();
    done = n4 * 4;
  }
  if (done < n) {
    mapScalar<<<gridFor(n - done), kThreads, 0, stream>>>(done, n, op);
    CUDA_CHECK_LAUNCH();
  }
}

__global__ void biasAddKernel(const float* x, const float* bias, float* out, int64_t rows,
                              int64_t cols) {
  const int64_t total = rows * cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = x[i] + bias[i % cols];
}

__global__ void biasAddVec4(const float4* x, const float4* bias, float4* out, int64_t rows,
                            int64_t cols4) {
  const int64_t total = rows * cols4;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    float4 v = x[i], b = bias[i % cols4];
    out[i] = make_float4(v.x + b.x, v.y + b.y, v.z + b.z, v.w + b.w);
  }
}

// Block (32, 8): 32 columns, 8 row lanes; each block sums rows [r0, r1).
__global__ void columnPartialSums(const float* dy, float* partial, int64_t rows, int64_t cols,
                                  int64_t rowsPerChunk) {
  __shared__ float acc[8][33];
  const int64_t c = blockIdx.x * 32 + threadIdx.x;
  const int64_t r0 = blockIdx.y * rowsPerChunk;
  const int64_t r1 = min(rows, r0 + rowsPerChunk);
  float s = 0.f;
  if (c < cols)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) s += dy[r * cols + c];
  acc[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float t = 0.f;
#pragma unroll
    for (int k = 0; k < 8; ++k) t += acc[k][threadIdx.x];
    partial[blockIdx.y * cols + c] = t;
  }
}

__global__ void sumPartials(const float* partial, float* out, int64_t chunks, int64_t cols,
                            bool accumulate) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  float s = 0.f;
  for (int64_t k = 0; k < chunks; ++k) s += partial[k * cols + c];
  out[c] = accumulate ? out[c] + s : s;
}

}  // namespace

void add(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream) {
  launchMap(AddOp{a, b, out}, n, aligned16(a) && aligned16(b) && aligned16(out), stream);
}

void axpy(float alpha, const float* x, float* y, int64_t n, cudaStream_t stream) {
  launchMap(AxpyOp{alpha, x, y}, n, aligned16(x) && aligned16(y), stream);
}

void scale(float* x, int64_t n, float alpha, cudaStream_t stream) {
  launchMap(ScaleOp{alpha, x}, n, aligned16(x), stream);
}

void fill(float* x, int64_t n, float value, cudaStream_t stream) {
  launchMap(FillOp{value, x}, n, aligned16(x), stream);
}

void flagNonFinite(const float* x, int64_t n, float* flag, cudaStream_t stream) {
  launchMap(NonFiniteOp{x, flag}, n, aligned16(x), stream);
}

void biasAdd(const float* x, const float* bias, float* out, int64_t rows, int64_t cols,
             cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  if (cols % 4 == 0 && aligned16(x) && aligned16(bias) && aligned16(out)) {
    biasAddVec4<<<gridFor(rows * cols / 4), kThreads, 0, stream>>>(
        reinterpret_cast<const float4*>(x), reinterpret_cast<const float4*>(bias),
        reinterpret_cast<float4*>(out), rows, cols / 4);
  } else {
    biasAddKernel<<<gridFor(rows * cols), kThreads, 0, stream>>>(x, bias, out, rows, cols);
  }
  CUDA_CHECK_LAUNCH();
}

void biasGradient(const float* dy, float* dbias, int64_t rows, int64_t cols, bool accumulate,
                  cudaStream_t stream) {
  if (cols <= 0) return;
  const int64_t colBlocks = ceilDiv(cols, 32);
  // Enough chunks for ~4 blocks per SM, each chunk at least 64 rows.
  int64_t chunks = ceilDiv(int64_t(multiprocessorCount()) * 4, colBlocks);
  chunks = std::max<int64_t>(1, std::min(chunks, ceilDiv(std::max<int64_t>(rows, 1), 64)));
  const int64_t rowsPerChunk = ceilDiv(std::max<int64_t>(rows, 1), chunks);
  DeviceScratch partial(sizeof(float) * chunks * cols);
  columnPartialSums<<<dim3(unsigned(colBlocks), unsigned(chunks)), dim3(32, 8), 0, stream>>>(
      dy, partial.as<float>(), rows, cols, rowsPerChunk);
  CUDA_CHECK_LAUNCH();
  sumPartials<<<unsigned(ceilDiv(cols, 256)), 256, 0, stream>>>(partial.as<float>(), dbias, chunks,
                                                                cols, accumulate);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cskd::cuda
