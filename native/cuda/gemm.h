// The GPU GEMM: the contract of cpu/gemm.h (GemmParams shared; row-major;
// op(A) M x K, op(B) K x N; C = alpha op(A) op(B) + beta C (+ bias over rows);
// strided batches; with beta == 0, C is never read), with device pointers.
//
// Precision says what the arithmetic may round to:
//   Fp32  float32 products (CUDA cores, or cuBLASLt's CUBLAS_COMPUTE_32F)
//   Bf16  operands rounded to bfloat16, float32 accumulation (tensor cores);
//         relative error ~1e-3..1e-2, what mixed-precision training accepts.
// Backend picks the implementation: Auto uses cuBLASLt where it loaded (see
// cublaslt.h) and our own kernels otherwise; Own and CublasLt force one (the
// check program compares both).
#pragma once
#include <cuda_runtime.h>

#include "cpu/gemm.h"

namespace cskd::cuda {

using cpu::GemmParams;

enum class GemmPrecision : int { Fp32 = 0, Bf16 = 1 };
enum class GemmBackend : int { Auto = 0, Own = 1, CublasLt = 2 };

void gemm(const GemmParams& p, GemmPrecision precision, cudaStream_t stream,
          GemmBackend backend = GemmBackend::Auto);

}  // namespace cskd::cuda
