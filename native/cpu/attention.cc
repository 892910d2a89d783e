// Attention on the CPU: one (batch, head) pair per task, the N x N score matrix
// kept in a per-thread buffer (at N = 197 it is 152 KiB and stays in L2), the
// three products done by the serial GEMM. The backward recomputes the
// probabilities from q, k and the saved log-sum-exp instead of storing them, so
// the forward's memory is O(N) per head.
#include "cpu/attention.h"

#include <cmath>
#include <vector>

#include "cpu/gemm_internal.h"
#include "cpu/parallel.h"
#include "cpu/softmax.h"
#include "cpu/vec_math.h"

namespace cskd::cpu {
namespace {

std::vector<float>& scratch(int which, size_t n) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& b = buffers[which];
  if (b.size() < n) b.resize(n);
  return b;
}

GemmParams product(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, bool transA,
                   const float* B, int64_t ldb, bool transB, float* C, int64_t ldc, float alpha) {
  GemmParams g;
  g.M = M;
  g.N = N;
  g.K = K;
  g.A = A;
  g.lda = lda;
  g.transA = transA;
  g.B = B;
  g.ldb = ldb;
  g.transB = transB;
  g.C = C;
  g.ldc = ldc;
  g.alpha = alpha;
  g.beta = 0.0f;
  return g;
}

// Row i of P from the scaled scores, in place: softmaxRowWithLse in the
// forward, expRowMinus from the saved lse in the backward (cpu/softmax.h).

// dS = P * (dP - D_i), in place over dP.
CSKD_SIMD_CLONES void softmaxGradRow(const float* p, float* ds, int64_t n, float di) {
  for (int64_t j = 0; j < n; ++j) ds[j] = p[j] * (ds[j] - di);
}

CSKD_SIMD_CLONES float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// S = scale * q k^T, then P row by row (lse computed when `computeLse`, else read).
void probabilities(const AttentionParams& p, const float* q, const float* k, float* lse, float* P,
                   bool computeLse) {
  const int64_t N = p.N;
  gemmSerial(product(N, N, p.D, q, p.qkv_sN, false, k, p.qkv_sN, true, P, N, p.scale));
  for (int64_t i = 0; i < N; ++i) {
    if (computeLse) {
      softmaxRowWithLse(P + i * N, N, lse + i);
    } else {
      expRowMinus(P + i * N, N, lse[i]);
    }
  }
}

}  // namespace

void attentionForward(const AttentionParams& p) {
  const int64_t N = p.N;
  parallelFor(p.B * p.H, 1, [&](int64_t t0, int64_t t1) {
    float* P = scratch(0, N * N).data();
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / p.H, h = t % p.H;
      const int64_t off = b * p.qkv_sB + h * p.qkv_sH;
      float* lse = p.lse + t * N;
      probabilities(p, p.q + off, p.k + off, lse, P, true);
      float* out = p.out + b * p.o_sB + h * p.o_sH;
      gemmSerial(product(N, p.D, N, P, N, false, p.v + off, p.qkv_sN, false, out, p.o_sN, 1.0f));
    }
  });
}

void attentionBackward(const AttentionParams& p) {
  const int64_t N = p.N, D = p.D;
  parallelFor(p.B * p.H, 1, [&](int64_t t0, int64_t t1) {
    float* P = scratch(0, N * N).data();
    float* dS = scratch(1, N * N + N).data();
    float* rowDot = dS + N * N;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / p.H, h = t % p.H;
      const int64_t off = b * p.qkv_sB + h * p.qkv_sH;
      const int64_t ooff = b * p.o_sB + h * p.o_sH;
      const float *q = p.q + off, *k = p.k + off, *v = p.v + off;
      const float *out = p.out + ooff, *dout = p.dout + ooff;
      probabilities(p, q, k, p.lse + t * N, P, false);
      // dV = P^T dO
      gemmSerial(product(N, D, N, P, N, true, dout, p.o_sN, false, p.dv + off, p.qkv_sN, 1.0f));
      // dP = dO V^T
      gemmSerial(product(N, N, D, dout, p.o_sN, false, v, p.qkv_sN, true, dS, N, 1.0f));
      // D_i = sum_d dO_id O_id equals sum_j P_ij dP_ij; dS = P * (dP - D_i)
      for (int64_t i = 0; i < N; ++i) rowDot[i] = dot(out + i * p.o_sN, dout + i * p.o_sN, D);
      for (int64_t i = 0; i < N; ++i) softmaxGradRow(P + i * N, dS + i * N, N, rowDot[i]);
      // dQ = scale dS K ; dK = scale dS^T Q
      gemmSerial(product(N, D, N, dS, N, false, k, p.qkv_sN, false, p.dq + off, p.qkv_sN, p.scale));
      gemmSerial(product(N, D, N, dS, N, true, q, p.qkv_sN, false, p.dk + off, p.qkv_sN, p.scale));
    }
  });
}

}  // namespace cskd::cpu
