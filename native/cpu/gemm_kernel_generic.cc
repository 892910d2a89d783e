// Portable GEMM micro-kernel for CPUs without AVX2: plain loops the compiler
// vectorises at the baseline instruction set.
#include "cpu/gemm_internal.h"

namespace cskd::cpu {
namespace {

constexpr int MR = 4, NR = 16;

void kernel(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
            float beta, const float* bias, int mr, int nr) {
  float acc[MR * NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < MR; ++i) {
      const float a = Ap[i];
      for (int j = 0; j < NR; ++j) acc[i * NR + j] += a * Bp[j];
    }
    Ap += MR;
    Bp += NR;
  }
  storeTile(acc, NR, C, ldc, alpha, beta, bias, mr, nr);
}

}  // namespace

MicroKernelInfo microKernelGeneric() { return {"generic-4x16", MR, NR, kernel}; }

}  // namespace cskd::cpu
