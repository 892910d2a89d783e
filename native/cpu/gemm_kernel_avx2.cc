// AVX2 + FMA GEMM micro-kernel: 6 x 16 tile, 12 ymm accumulators (the classic
// Haswell/Zen shape: 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16
// ymm registers). Compiled with -mavx2 -mfma; only called when cpuid says so.
//
// The accumulators are named variables, not arrays: GCC keeps an array of
// vectors in memory and stores every accumulator on every k step, which made
// this kernel store-bound at a third of the FMA peak.
#include <immintrin.h>

#include "cpu/gemm_internal.h"

namespace cskd::cpu {
namespace {

constexpr int MR = 6, NR = 16;

#define CSKD_ROW(i)                               \
  {                                               \
    const __m256 a = _mm256_broadcast_ss(Ap + i); \
    c##i##0 = _mm256_fmadd_ps(a, b0, c##i##0);    \
    c##i##1 = _mm256_fmadd_ps(a, b1, c##i##1);    \
  }

void kernel(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
            float beta, const float* bias, int mr, int nr) {
  // C's rows are needed at the end; start fetching them now (for the stores too)
  // so their cache misses overlap the k loop instead of stalling after it.
  for (int i = 0; i < mr; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + NR - 1), _MM_HINT_T0);
  }
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(Bp);
    const __m256 b1 = _mm256_load_ps(Bp + 8);
    CSKD_ROW(0);
    CSKD_ROW(1);
    CSKD_ROW(2);
    CSKD_ROW(3);
    CSKD_ROW(4);
    CSKD_ROW(5);
    Ap += MR;
    Bp += NR;
  }
  const __m256 rows[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                              {c30, c31}, {c40, c41}, {c50, c51}};
  if (mr == MR && nr == NR) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const __m256 bias0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    const __m256 bias1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
    for (int i = 0; i < MR; ++i) {
      float* c = C + i * ldc;
      __m256 r0 = _mm256_fmadd_ps(va, rows[i][0], bias0);
      __m256 r1 = _mm256_fmadd_ps(va, rows[i][1], bias1);
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), r1);
      }
      _mm256_storeu_ps(c, r0);
      _mm256_storeu_ps(c + 8, r1);
    }
    return;
  }
  alignas(32) float acc[MR * NR];
  for (int i = 0; i < MR; ++i) {
    _mm256_store_ps(acc + i * NR, rows[i][0]);
    _mm256_store_ps(acc + i * NR + 8, rows[i][1]);
  }
  storeTile(acc, NR, C, ldc, alpha, beta, bias, mr, nr);
}

#undef CSKD_ROW

}  // namespace

MicroKernelInfo microKernelAvx2() { return {"avx2-6x16", MR, NR, kernel}; }

}  // namespace cskd::cpu
