// The CPU GEMM: BLIS-style blocking with packed panels and a register-blocked
// micro-kernel picked at run time from the CPU's features (AVX-512, AVX2, or a
// portable one).
//
// Threads split C into slabs along its larger dimension; each thread packs its
// own panels. That repacks the shared operand once per thread, which costs
// O(K*N) against O(M*N*K) of arithmetic and spares the threads any barrier.
// Batched products with at least as many batches as threads go one batch per
// chunk instead.
#include <immintrin.h>

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

// One full sliver, R wide, k-major: dst[k * R + r] = element (r, k) of the
// operand, whose r-th line starts at src + r * ld (kAcross: the R elements of
// one k are scattered over R lines) or whose k-th line holds them contiguously
// at src + k * ld (!kAcross). R is a compile-time constant so the inner loop
// unrolls into straight loads and stores; a loop over a run-time width (and
// memcpy of 64 bytes per k) made packing a quarter of a ViT step's GEMM time.
template <int R, bool kAcross>
void packSliver(const float* src, int64_t ld, int64_t kc, float* dst) {
  if constexpr (kAcross) {
    int64_t k = 0;
#if defined(__SSE2__)
    if constexpr (R == 6) {
      // The hot case (activations x, 6 rows at a time): 4 k at once, 4x4
      // transposes in registers instead of 24 scalar loads and stores.
      const float *r0 = src, *r1 = src + ld, *r2 = src + 2 * ld, *r3 = src + 3 * ld,
                  *r4 = src + 4 * ld, *r5 = src + 5 * ld;
      for (; k + 4 <= kc; k += 4) {
        __m128 a = _mm_loadu_ps(r0 + k), b = _mm_loadu_ps(r1 + k), c = _mm_loadu_ps(r2 + k),
               d = _mm_loadu_ps(r3 + k);
        _MM_TRANSPOSE4_PS(a, b, c, d);  // a = rows 0-3 at k, b at k + 1, ...
        const __m128 e = _mm_loadu_ps(r4 + k), f = _mm_loadu_ps(r5 + k);
        const __m128 lo = _mm_unpacklo_ps(e, f), hi = _mm_unpackhi_ps(e, f);  // (r4, r5) pairs
        float* o = dst + k * 6;
        _mm_storeu_ps(o, a);
        _mm_storel_pi(reinterpret_cast<__m64*>(o + 4), lo);
        _mm_storeu_ps(o + 6, b);
        _mm_storeh_pi(reinterpret_cast<__m64*>(o + 10), lo);
        _mm_storeu_ps(o + 12, c);
        _mm_storel_pi(reinterpret_cast<__m64*>(o + 16), hi);
        _mm_storeu_ps(o + 18, d);
        _mm_storeh_pi(reinterpret_cast<__m64*>(o + 22), hi);
      }
    }
#endif
    for (; k < kc; ++k)
#pragma GCC unroll 32
      for (int r = 0; r < R; ++r) dst[k * R + r] = src[r * ld + k];
  } else {
    for (int64_t k = 0; k < kc; ++k)
#pragma GCC unroll 32
      for (int r = 0; r < R; ++r) dst[k * R + r] = src[k * ld + r];
  }
}

// A sliver `width` (<= R) wide, zero-padded to R: edges and unusual widths.
void packSliverEdge(const float* src, int64_t ld, int64_t kc, int R, int width, bool kAcross,
                    float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    float* d = dst + k * R;
    for (int r = 0; r < width; ++r) d[r] = kAcross ? src[r * ld + k] : src[k * ld + r];
    for (int r = width; r < R; ++r) d[r] = 0.0f;
  }
}

template <int R>
void packSliverFull(const float* src, int64_t ld, int64_t kc, bool kAcross, float* dst) {
  if (kAcross) {
    packSliver<R, true>(src, ld, kc, dst);
  } else {
    packSliver<R, false>(src, ld, kc, dst);
  }
}

// The widths of the micro-kernels' MR and NR (gemm_kernel_*.cc).
void packSliverAny(const float* src, int64_t ld, int64_t kc, int R, int width, bool kAcross,
                   float* dst) {
  if (width == R) {
    switch (R) {
      case 4:
        return packSliverFull<4>(src, ld, kc, kAcross, dst);
      case 6:
        return packSliverFull<6>(src, ld, kc, kAcross, dst);
      case 12:
        return packSliverFull<12>(src, ld, kc, kAcross, dst);
      case 16:
        return packSliverFull<16>(src, ld, kc, kAcross, dst);
      case 32:
        return packSliverFull<32>(src, ld, kc, kAcross, dst);
      default:
        break;
    }
  }
  packSliverEdge(src, ld, kc, R, width, kAcross, dst);
}

// Packs op(A)[i0:i0+mc, p0:p0+kc] into slivers of MR rows, k-major inside a sliver.
void packA(const GemmParams& p, const float* A, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
           int MR, float* Ap) {
  for (int64_t s = 0; s < mc; s += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, mc - s));
    if (!p.transA) {
      packSliverAny(A + (i0 + s) * p.lda + p0, p.lda, kc, MR, rows, true, Ap + s * kc);
    } else {
      packSliverAny(A + p0 * p.lda + i0 + s, p.lda, kc, MR, rows, false, Ap + s * kc);
    }
  }
}

// Packs op(B)[p0:p0+kc, j0:j0+nc] into slivers of NR columns, k-major inside a sliver.
void packB(const GemmParams& p, const float* B, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
           int NR, float* Bp) {
  for (int64_t s = 0; s < nc; s += NR) {
    const int cols = static_cast<int>(std::min<int64_t>(NR, nc - s));
    if (!p.transB) {
      packSliverAny(B + p0 * p.ldb + j0 + s, p.ldb, kc, NR, cols, false, Bp + s * kc);
    } else {
      packSliverAny(B + (j0 + s) * p.ldb + p0, p.ldb, kc, NR, cols, true, Bp + s * kc);
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
