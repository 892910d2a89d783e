// cuBLASLt, loaded at run time.
//
// The addon must load on machines without the CUDA libraries, and the CUDA
// toolkit on build machines may lack cuBLAS headers, so nothing links against
// cuBLASLt: the few entry points we use are declared in cublaslt.cu and looked
// up with dlopen/dlsym on first use. Search order: $CSKD_CUBLASLT (a path),
// then libcublasLt.so.13, .so.12, .so on the loader's path (for the pip wheel
// nvidia-cublas, add its lib/ folder to LD_LIBRARY_PATH).
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "cpu/gemm.h"

namespace cskd::cuda {

// True when the library loaded and a handle exists; otherwise `reason` says why.
bool cublasLtAvailable(std::string* reason = nullptr);
// Path or soname that was loaded ("" when none).
std::string cublasLtLibrary();

// Runs p through cublasLtMatmul. bf16Compute selects CUBLAS_COMPUTE_32F_FAST_16BF,
// otherwise CUBLAS_COMPUTE_32F. Returns false (and does nothing) when the library
// is missing or no algorithm fits; throws on a failing call.
bool cublasLtGemm(const cpu::GemmParams& p, bool bf16Compute, cudaStream_t stream);

}  // namespace cskd::cuda
