// Shared plumbing of the CUDA backend: error checks, launch helpers and the
// warp/block reductions every row kernel uses.
//
// Errors throw cskd::cuda::CudaError (a std::runtime_error) naming the call and
// file:line, so the Node binding can turn them into JS errors instead of
// aborting the process. Every launcher checks cudaGetLastError right after its
// launch (CUDA_CHECK_LAUNCH), which catches bad configurations at the call site;
// faults inside a kernel surface at the next synchronising call.
//
// Kernels take a cudaStream_t and never synchronise; all pointers are device
// pointers unless a header says otherwise.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace cskd::cuda {

class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void throwCudaError(cudaError_t err, const char* what, const char* file,
                                        int line) {
  throw CudaError(std::string("CUDA error ") + cudaGetErrorName(err) + " (" +
                  cudaGetErrorString(err) + ") at " + file + ":" + std::to_string(line) + ": " +
                  what);
}

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Number of multiprocessors of the current device (cached per device).
int multiprocessorCount();

}  // namespace cskd::cuda

#define CUDA_CHECK(call)                                                  \
  do {                                                                    \
    cudaError_t cskd_err_ = (call);                                       \
    if (cskd_err_ != cudaSuccess)                                         \
      ::cskd::cuda::throwCudaError(cskd_err_, #call, __FILE__, __LINE__); \
  } while (0)

// After a <<<...>>> launch: reports a bad launch at this file:line.
#define CUDA_CHECK_LAUNCH()                                                         \
  do {                                                                              \
    cudaError_t cskd_err_ = cudaGetLastError();                                     \
    if (cskd_err_ != cudaSuccess)                                                   \
      ::cskd::cuda::throwCudaError(cskd_err_, "kernel launch", __FILE__, __LINE__); \
  } while (0)

#ifdef __CUDACC__
namespace cskd::cuda {

template <typename T>
__device__ __forceinline__ T warpSum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warpMax(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the whole block; every thread gets the result. `scratch` holds 32
// values; the call synchronises, so it may be reused right after.
template <typename T>
__device__ __forceinline__ T blockSum(T v, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = (blockDim.x + 31) >> 5;
  v = warpSum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T total = lane < warps ? scratch[lane] : T(0);
  return warpSum(total);
}

}  // namespace cskd::cuda
#endif
