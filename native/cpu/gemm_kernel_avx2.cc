// AVX2 + FMA GEMM micro-kernel: 6 x 16 tile, 12 ymm accumulators (the classic
// Haswell shape). Compiled with -mavx2 -mfma; only called when cpuid says so.
#include <immintrin.h>

#include "cpu/gemm_internal.h"

namespace cskd::cpu {
namespace {

constexpr int MR = 6, NR = 16;

void kernel(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
            float beta, const float* bias, int mr, int nr) {
  __m256 c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b0 = _mm256_load_ps(Bp);
    __m256 b1 = _mm256_load_ps(Bp + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      __m256 a = _mm256_broadcast_ss(Ap + i);
      c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
    }
    Ap += MR;
    Bp += NR;
  }
  alignas(32) float acc[MR * NR];
  for (int i = 0; i < MR; ++i) {
    _mm256_store_ps(acc + i * NR, c0[i]);
    _mm256_store_ps(acc + i * NR + 8, c1[i]);
  }
  storeTile(acc, NR, C, ldc, alpha, beta, bias, mr, nr);
}

}  // namespace

MicroKernelInfo microKernelAvx2() { return {"avx2-6x16", MR, NR, kernel}; }

}  // namespace cskd::cpu
