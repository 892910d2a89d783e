// The CPU GEMM: BLIS-style blocking with packed panels and a register-blocked
// micro-kernel picked at run time from the CPU's features (AVX-512, AVX2, or a
// portable one).
//
// Threads split C into slabs along its larger dimension; each thread packs its
// own panels. That repacks the shared operand once per thread, which costs
// O(K*N) against O(M*N*K) of arithmetic and spares the threads any barrier.
// Batched products with at least as many batches as threads go one batch per
// chunk instead.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/gemm_internal.h"
#include "cpu/parallel.h"

namespace cskd::cpu {
namespace {

constexpr int64_t kKC = 256;   // depth of a packed panel: A and B slivers stay in L1
constexpr int64_t kMC = 144;   // rows of A packed at once (L2), a multiple of every MR
constexpr int64_t kNC = 1024;  // columns of B packed at once (L2)

const MicroKernelInfo& chosenKernel() {
  static const MicroKernelInfo info = [] {
    const CpuFeatures& f = cpuFeatures();
    if (f.avx512f && !std::getenv("CSKD_DISABLE_AVX512")) return microKernelAvx512();
    if (f.avx2 && f.fma) return microKernelAvx2();
    return microKernelGeneric();
  }();
  return info;
}

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float, AlignedFree>;

Buffer allocFloats(int64_t n) {
  size_t bytes = ((static_cast<size_t>(n) * sizeof(float) + 63) / 64) * 64;
  return Buffer(static_cast<float*>(std::aligned_alloc(64, bytes)));
}

// Packs op(A)[i0:i0+mc, p0:p0+kc] into slivers of MR rows, k-major inside a sliver.
void packA(const GemmParams& p, const float* A, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
           int MR, float* Ap) {
  for (int64_t s = 0; s < mc; s += MR) {
    int rows = static_cast<int>(std::min<int64_t>(MR, mc - s));
    float* dst = Ap + s * kc;
    if (!p.transA) {
      // k outer: each of the MR rows is read as a sequential stream and every
      // write is contiguous (row-outer order strides every write by MR).
      const float* src = A + (i0 + s) * p.lda + p0;
      for (int64_t k = 0; k < kc; ++k)
        for (int r = 0; r < rows; ++r) dst[k * MR + r] = src[r * p.lda + k];
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = A + (p0 + k) * p.lda + i0 + s;
        for (int r = 0; r < rows; ++r) dst[k * MR + r] = src[r];
      }
    }
    for (int r = rows; r < MR; ++r)
      for (int64_t k = 0; k < kc; ++k) dst[k * MR + r] = 0.0f;
  }
}

// Packs op(B)[p0:p0+kc, j0:j0+nc] into slivers of NR columns, k-major inside a sliver.
void packB(const GemmParams& p, const float* B, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
           int NR, float* Bp) {
  for (int64_t s = 0; s < nc; s += NR) {
    int cols = static_cast<int>(std::min<int64_t>(NR, nc - s));
    float* dst = Bp + s * kc;
    if (!p.transB) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = B + (p0 + k) * p.ldb + j0 + s;
        float* d = dst + k * NR;
        std::memcpy(d, src, cols * sizeof(float));
        for (int c = cols; c < NR; ++c) d[c] = 0.0f;
      }
    } else {
      // k outer, as in packA: NR sequential read streams, contiguous writes.
      const float* src = B + (j0 + s) * p.ldb + p0;
      for (int64_t k = 0; k < kc; ++k) {
        float* d = dst + k * NR;
        for (int c = 0; c < cols; ++c) d[c] = src[c * p.ldb + k];
        for (int c = cols; c < NR; ++c) d[c] = 0.0f;
      }
    }
  }
}

// C[i0:i1, j0:j1] of one batch entry, on this thread.
void gemmBlock(const GemmParams& p, const float* A, const float* B, float* C, int64_t i0,
               int64_t i1, int64_t j0, int64_t j1) {
  const MicroKernelInfo& uk = chosenKernel();
  const int MR = uk.MR, NR = uk.NR;
  thread_local Buffer Ap, Bp;
  thread_local int64_t apSize = 0, bpSize = 0;
  const int64_t needA = kMC * kKC, needB = (kNC + NR) * kKC;
  if (apSize < needA) Ap = allocFloats(apSize = needA);
  if (bpSize < needB) Bp = allocFloats(bpSize = needB);

  if (p.K == 0) {  // C = beta * C + bias
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = j0; j < j1; ++j) {
        float& c = C[i * p.ldc + j];
        c = (p.beta == 0.0f ? 0.0f : p.beta * c) + (p.bias ? p.bias[j] : 0.0f);
      }
  }
  for (int64_t jc = j0; jc < j1; jc += kNC) {
    int64_t nc = std::min(kNC, j1 - jc);
    for (int64_t pc = 0; pc < p.K; pc += kKC) {
      int64_t kc = std::min(kKC, p.K - pc);
      float beta = pc == 0 ? p.beta : 1.0f;
      float alpha = p.alpha;
      const bool lastK = pc + kc >= p.K;
      packB(p, B, pc, kc, jc, nc, NR, Bp.get());
      for (int64_t ic = i0; ic < i1; ic += kMC) {
        int64_t mc = std::min(kMC, i1 - ic);
        packA(p, A, ic, mc, pc, kc, MR, Ap.get());
        for (int64_t jr = 0; jr < nc; jr += NR) {
          int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
          for (int64_t ir = 0; ir < mc; ir += MR) {
            int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
            uk.fn(kc, Ap.get() + ir * kc, Bp.get() + jr * kc, C + (ic + ir) * p.ldc + jc + jr,
                  p.ldc, alpha, beta, lastK && p.bias ? p.bias + jc + jr : nullptr, mr, nr);
          }
        }
      }
    }
  }
}

}  // namespace

const char* gemmKernelName() { return chosenKernel().name; }

void gemmSerial(const GemmParams& p) {
  for (int64_t b = 0; b < p.batch; ++b)
    gemmBlock(p, p.A + b * p.strideA, p.B + b * p.strideB, p.C + b * p.strideC, 0, p.M, 0, p.N);
}

void gemm(const GemmParams& p) {
  if (p.M == 0 || p.N == 0 || p.batch == 0) return;
  const int threads = numThreads();
  const double flops = 2.0 * p.M * p.N * std::max<int64_t>(p.K, 1) * p.batch;
  if (threads == 1 || flops < 2e5) {
    gemmSerial(p);
    return;
  }
  if (p.batch >= threads) {
    parallelFor(p.batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        gemmBlock(p, p.A + b * p.strideA, p.B + b * p.strideB, p.C + b * p.strideC, 0, p.M, 0, p.N);
    });
    return;
  }
  const MicroKernelInfo& uk = chosenKernel();
  for (int64_t b = 0; b < p.batch; ++b) {
    const float* A = p.A + b * p.strideA;
    const float* B = p.B + b * p.strideB;
    float* C = p.C + b * p.strideC;
    // One slab per thread along the larger dimension, in whole micro-tiles:
    // more slabs would repack the shared operand more often for no balance gain.
    const bool splitM = p.M >= p.N;
    const int64_t unit = splitM ? uk.MR : uk.NR;
    const int64_t tiles = ((splitM ? p.M : p.N) + unit - 1) / unit;
    const int64_t slabs = std::min<int64_t>(threads, tiles);
    parallelFor(slabs, 1, [&](int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; ++s) {
        const int64_t t0 = tiles * s / slabs, t1 = tiles * (s + 1) / slabs;
        if (splitM) {
          gemmBlock(p, A, B, C, t0 * uk.MR, std::min(p.M, t1 * uk.MR), 0, p.N);
        } else {
          gemmBlock(p, A, B, C, 0, p.M, t0 * uk.NR, std::min(p.N, t1 * uk.NR));
        }
      }
    });
  }
}

}  // namespace cskd::cpu
