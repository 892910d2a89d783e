// General matrix multiply, the one production GEMM of the CPU backend.
//
//   C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b]  (+ bias broadcast over rows)
//
// Row-major. op(A) is M x K: A is stored [M, lda] or, with transA, [K, lda].
// op(B) is K x N: B is stored [K, ldb] or, with transB, [N, ldb]. A Linear layer
// y = x W^T + b is gemm(x, W, transB) with bias; its backward is two more calls
// (dx = dy W; dW += dy^T x with beta = 1) and biasGradient. With beta == 0, C is
// never read, so it may hold garbage (NaN included).
#pragma once
#include <cstdint>

namespace cskd::cpu {

struct GemmParams {
  int64_t M = 0, N = 0, K = 0;
  bool transA = false, transB = false;
  float alpha = 1.0f, beta = 0.0f;
  const float* A = nullptr;
  int64_t lda = 0, strideA = 0;
  const float* B = nullptr;
  int64_t ldb = 0, strideB = 0;
  float* C = nullptr;
  int64_t ldc = 0, strideC = 0;
  const float* bias = nullptr;  // [N] or null
  int64_t batch = 1;
};

void gemm(const GemmParams& p);

// Name of the micro-kernel the dispatcher chose on this CPU (for `cskd info`).
const char* gemmKernelName();

}  // namespace cskd::cpu
