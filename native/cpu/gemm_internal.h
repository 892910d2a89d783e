// Internals shared by the GEMM driver (gemm.cc) and its micro-kernels, one per
// instruction set, each in its own file compiled with that set's flags.
#pragma once
#include <cstdint>

#include "cpu/gemm.h"

namespace cskd::cpu {

// acc = Ap (MR x kc, packed) * Bp (kc x NR, packed); then for the mr x nr
// corner of C: C = alpha * acc + beta * C (+ bias[j] when bias is not null;
// C not read when beta == 0). The driver passes the bias with the last K
// block only, so the bias costs no extra pass over C.
using MicroKernel = void (*)(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc,
                             float alpha, float beta, const float* bias, int mr, int nr);

struct MicroKernelInfo {
  const char* name;
  int MR, NR;
  MicroKernel fn;
};

MicroKernelInfo microKernelAvx512();
MicroKernelInfo microKernelAvx2();
MicroKernelInfo microKernelGeneric();

// The whole of p on the calling thread (for kernels that already run in parallel,
// such as attention over heads).
void gemmSerial(const GemmParams& p);

// Writes the mr x nr corner of a full MR x NR tile into C (C = alpha*acc + beta*C + bias).
inline void storeTile(const float* acc, int NR, float* C, int64_t ldc, float alpha, float beta,
                      const float* bias, int mr, int nr) {
  for (int i = 0; i < mr; ++i) {
    float* c = C + i * ldc;
    const float* a = acc + i * NR;
    for (int j = 0; j < nr; ++j) {
      float v = alpha * a[j];
      if (beta != 0.0f) v += beta * c[j];
      if (bias) v += bias[j];
      c[j] = v;
    }
  }
}

}  // namespace cskd::cpu
