// Our own GEMM kernels and the dispatcher.
//
// Two kernels, both 128 x 128 output tiles with 256 threads, both reading any
// transposition through one index rule (op(A)(m, k) = transA ? A[k, m] :
// A[m, k]) and mapping threads so that global reads run along the contiguous
// dimension, both staging the next K-slice in registers while the current one
// is multiplied out of shared memory (two shared buffers, one barrier per
// slice), both bounds-checked so M, N, K need no padding:
//
//   fp32: K-slices of 8, each thread an 8 x 8 micro-tile (rows ty + 16 i, columns
//         tx + 16 j, so shared reads are broadcasts or conflict-free), FFMA.
//   bf16: K-slices of 32, converted from float32 to bf16 on the way into shared
//         memory, 8 warps each owning a 64 x 32 warp tile of mma.sync
//         m16n8k16 (bf16 in, fp32 accumulate) fed by ldmatrix. Shared rows are
//         padded to 40 halves (80 bytes) so the 8 row addresses of each
//         ldmatrix phase land in distinct banks. mma.sync exists from sm_80
//         on, so this one kernel serves every architecture we build; on Hopper
//         wgmma would be faster, which is what cuBLASLt gives us where present.
//
// The epilogue applies alpha, beta (C read only when beta != 0) and the bias.
#include <cuda_bf16.h>

#include <stdexcept>

#include "cuda/common.h"
#include "cuda/cublaslt.h"
#include "cuda/gemm.h"
#include "cuda/mma.cuh"

namespace cskd::cuda {
namespace {

struct Operand {
  const float* ptr;
  int64_t ld, stride;
  bool trans;
};

// ---- fp32 ------------------------------------------------------------------

constexpr int kBM = 128, kBN = 128, kBK = 8;

__global__ void __launch_bounds__(256) sgemmKernel(GemmParams p) {
  __shared__ float As[2][kBK][kBM];
  __shared__ float Bs[2][kBK][kBN];
  const int64_t batch = blockIdx.z;
  const float* A = p.A + batch * p.strideA;
  const float* B = p.B + batch * p.strideB;
  float* C = p.C + batch * p.strideC;
  const int64_t m0 = int64_t(blockIdx.y) * kBM, n0 = int64_t(blockIdx.x) * kBN;
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
  const int64_t M = p.M, N = p.N, K = p.K;

  // Global -> register staging: 4 elements of A and 4 of B per thread.
  float ra[4], rb[4];
  auto loadA = [&](int64_t k0) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      int idx = t + 256 * r;
      int mm, kk;
      if (p.transA) {
        kk = idx / kBM, mm = idx % kBM;
      } else {
        mm = idx / kBK, kk = idx % kBK;
      }
      int64_t m = m0 + mm, k = k0 + kk;
      ra[r] = (m < M && k < K) ? (p.transA ? A[k * p.lda + m] : A[m * p.lda + k]) : 0.f;
    }
  };
  auto loadB = [&](int64_t k0) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      int idx = t + 256 * r;
      int nn, kk;
      if (p.transB) {
        nn = idx / kBK, kk = idx % kBK;
      } else {
        kk = idx / kBN, nn = idx % kBN;
      }
      int64_t n = n0 + nn, k = k0 + kk;
      rb[r] = (n < N && k < K) ? (p.transB ? B[n * p.ldb + k] : B[k * p.ldb + n]) : 0.f;
    }
  };
  auto store = [&](int buf) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      int idx = t + 256 * r;
      if (p.transA)
        As[buf][idx / kBM][idx % kBM] = ra[r];
      else
        As[buf][idx % kBK][idx / kBK] = ra[r];
      if (p.transB)
        Bs[buf][idx % kBK][idx / kBK] = rb[r];
      else
        Bs[buf][idx / kBN][idx % kBN] = rb[r];
    }
  };

  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;

  loadA(0);
  loadB(0);
  store(0);
  __syncthreads();
  int buf = 0;
  for (int64_t k0 = 0; k0 < K; k0 += kBK) {
    const bool more = k0 + kBK < K;
    if (more) {
      loadA(k0 + kBK);
      loadB(k0 + kBK);
    }
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      float a[8], b[8];
#pragma unroll
      for (int i = 0; i < 8; ++i) a[i] = As[buf][kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 8; ++j) b[j] = Bs[buf][kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (more) {
      store(buf ^ 1);
      __syncthreads();
      buf ^= 1;
    }
  }

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int64_t m = m0 + ty + 16 * i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int64_t n = n0 + tx + 16 * j;
      if (n >= N) continue;
      float v = p.alpha * acc[i][j];
      if (p.beta != 0.f) v = fmaf(p.beta, C[m * p.ldc + n], v);
      if (p.bias) v += p.bias[n];
      C[m * p.ldc + n] = v;
    }
  }
}

// ---- bf16 tensor cores ------------------------------------------------------

constexpr int kTM = 128, kTN = 128, kTK = 32, kPad = 8, kRowH = kTK + kPad;  // halves per row

__global__ void __launch_bounds__(256) bf16GemmKernel(GemmParams p) {
  __shared__ __align__(16) __nv_bfloat16 As[2][kTM * kRowH];
  __shared__ __align__(16) __nv_bfloat16 Bs[2][kTN * kRowH];
  const int64_t batch = blockIdx.z;
  const float* A = p.A + batch * p.strideA;
  const float* B = p.B + batch * p.strideB;
  float* C = p.C + batch * p.strideC;
  const int64_t m0 = int64_t(blockIdx.y) * kTM, n0 = int64_t(blockIdx.x) * kTN;
  const int64_t M = p.M, N = p.N, K = p.K;
  const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
  const int wm = (warp / 4) * 64, wn = (warp % 4) * 32;

  // 128 x 32 elements per operand per slice = 16 per thread.
  float ra[16], rb[16];
  auto loadOp = [&](float(&r)[16], const float* X, int64_t ld, bool trans, int64_t r0, int64_t R,
                    int64_t k0) {
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      int idx = t + 256 * i;
      int rr, kk;
      if (trans) {  // X stored [K, ld]: contiguous along rows of the tile
        kk = idx / 128, rr = idx % 128;
      } else {  // X stored [R, ld]: contiguous along k
        rr = idx / kTK, kk = idx % kTK;
      }
      int64_t row = r0 + rr, k = k0 + kk;
      r[i] = (row < R && k < K) ? (trans ? X[k * ld + row] : X[row * ld + k]) : 0.f;
    }
  };
  auto storeOp = [&](__nv_bfloat16* S, const float(&r)[16], bool trans) {
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      int idx = t + 256 * i;
      int rr, kk;
      if (trans) {
        kk = idx / 128, rr = idx % 128;
      } else {
        rr = idx / kTK, kk = idx % kTK;
      }
      S[rr * kRowH + kk] = __float2bfloat16_rn(r[i]);
    }
  };
  // op(A) rows are m; op(B) "rows" are n (B stored [K, ldb] is the transposed case).
  auto loadSlice = [&](int64_t k0) {
    loadOp(ra, A, p.lda, p.transA, m0, M, k0);
    loadOp(rb, B, p.ldb, !p.transB, n0, N, k0);
  };
  auto storeSlice = [&](int buf) {
    storeOp(As[buf], ra, p.transA);
    storeOp(Bs[buf], rb, !p.transB);
  };

  float acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[i][j][c] = 0.f;

  loadSlice(0);
  storeSlice(0);
  __syncthreads();
  int buf = 0;
  for (int64_t k0 = 0; k0 < K; k0 += kTK) {
    const bool more = k0 + kTK < K;
    if (more) loadSlice(k0 + kTK);
#pragma unroll
    for (int kk = 0; kk < kTK; kk += 16) {
      uint32_t af[4][4], bfr[2][4];
#pragma unroll
      for (int i = 0; i < 4; ++i)
        ldmatrixX4(af[i], &As[buf][(wm + i * 16 + (lane % 16)) * kRowH + kk + (lane / 16) * 8]);
#pragma unroll
      for (int j = 0; j < 2; ++j)
        ldmatrixX4(bfr[j], &Bs[buf][(wn + j * 16 + (lane % 8) + (lane / 16) * 8) * kRowH + kk +
                                    ((lane / 8) % 2) * 8]);
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
          mmaBf16(acc[i][j], af[i], bfr[j / 2][(j % 2) * 2], bfr[j / 2][(j % 2) * 2 + 1]);
    }
    if (more) {
      storeSlice(buf ^ 1);
      __syncthreads();
      buf ^= 1;
    }
  }

#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int64_t m = m0 + wm + i * 16 + lane / 4 + (c / 2) * 8;
        const int64_t n = n0 + wn + j * 8 + (lane % 4) * 2 + (c % 2);
        if (m >= M || n >= N) continue;
        float v = p.alpha * acc[i][j][c];
        if (p.beta != 0.f) v = fmaf(p.beta, C[m * p.ldc + n], v);
        if (p.bias) v += p.bias[n];
        C[m * p.ldc + n] = v;
      }
}

}  // namespace

void gemm(const GemmParams& p, GemmPrecision precision, cudaStream_t stream, GemmBackend backend) {
  if (p.M <= 0 || p.N <= 0 || p.batch <= 0) return;
  if (backend != GemmBackend::Own) {
    if (cublasLtGemm(p, precision == GemmPrecision::Bf16, stream)) return;
    if (backend == GemmBackend::CublasLt)
      throw std::runtime_error("gemm: cuBLASLt requested but not usable for this call");
  }
  if (p.batch > 65535) throw std::invalid_argument("gemm: batch > 65535");
  if (precision == GemmPrecision::Bf16) {
    dim3 grid(unsigned(ceilDiv(p.N, kTN)), unsigned(ceilDiv(p.M, kTM)), unsigned(p.batch));
    bf16GemmKernel<<<grid, 256, 0, stream>>>(p);
  } else {
    dim3 grid(unsigned(ceilDiv(p.N, kBN)), unsigned(ceilDiv(p.M, kBM)), unsigned(p.batch));
    sgemmKernel<<<grid, 256, 0, stream>>>(p);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace cskd::cuda
