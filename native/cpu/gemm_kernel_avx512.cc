// AVX-512 GEMM micro-kernel: 12 x 32 tile, 24 zmm accumulators. Each k step
// loads two vectors of B and broadcasts 12 values of A: 24 FMAs against 14
// loads, enough independent chains to cover the FMA latency on two ports.
// Compiled with -mavx512f (see CMakeLists.txt); only called when cpuid says so.
#include <immintrin.h>

#include "cpu/gemm_internal.h"

namespace cskd::cpu {
namespace {

constexpr int MR = 12, NR = 32;

void kernel(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
            float beta, const float* bias, int mr, int nr) {
  // C's rows are needed at the end; start fetching them now (for the stores too)
  // so their cache misses overlap the k loop instead of stalling after it.
  for (int i = 0; i < mr; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + NR - 1), _MM_HINT_T0);
  }
  __m512 c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b0 = _mm512_load_ps(Bp);
    __m512 b1 = _mm512_load_ps(Bp + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      __m512 a = _mm512_set1_ps(Ap[i]);
      c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
    }
    Ap += MR;
    Bp += NR;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  if (mr == MR && nr == NR) {
    const __m512 vb = _mm512_set1_ps(beta);
    const __m512 bias0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
    const __m512 bias1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();
    for (int i = 0; i < MR; ++i) {
      float* c = C + i * ldc;
      __m512 r0 = _mm512_fmadd_ps(va, c0[i], bias0), r1 = _mm512_fmadd_ps(va, c1[i], bias1);
      if (beta != 0.0f) {
        r0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c), r0);
        r1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c + 16), r1);
      }
      _mm512_storeu_ps(c, r0);
      _mm512_storeu_ps(c + 16, r1);
    }
    return;
  }
  alignas(64) float acc[MR * NR];
  for (int i = 0; i < MR; ++i) {
    _mm512_store_ps(acc + i * NR, c0[i]);
    _mm512_store_ps(acc + i * NR + 16, c1[i]);
  }
  storeTile(acc, NR, C, ldc, alpha, beta, bias, mr, nr);
}

}  // namespace

MicroKernelInfo microKernelAvx512() { return {"avx512-12x32", MR, NR, kernel}; }

}  // namespace cskd::cpu
