#include "cpu/gemm.h"

#include "binding/args.h"
#ifdef CSKD_HAVE_CUDA
#include "cuda/gemm.h"
#endif

namespace cskd::binding {
namespace {

// Elements a row-major [rows, cols] view with leading dimension ld spans.
int64_t extent(int64_t rows, int64_t cols, int64_t ld) {
  return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols;
}

// gemm(A, B, C, bias, M, N, K, transA, transB, alpha, beta, lda, ldb, ldc,
//      batch, strideA, strideB, strideC, bf16)
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Args a(info, "gemm");
  cpu::GemmParams p;
  p.M = a.i64(4, "M");
  p.N = a.i64(5, "N");
  p.K = a.i64(6, "K");
  p.transA = a.flag(7, "transA");
  p.transB = a.flag(8, "transB");
  p.alpha = static_cast<float>(a.num(9, "alpha"));
  p.beta = static_cast<float>(a.num(10, "beta"));
  p.lda = a.i64(11, "lda");
  p.ldb = a.i64(12, "ldb");
  p.ldc = a.i64(13, "ldc");
  p.batch = a.i64(14, "batch");
  p.strideA = a.i64(15, "strideA");
  p.strideB = a.i64(16, "strideB");
  p.strideC = a.i64(17, "strideC");
  const int64_t lastA = p.batch > 0 ? (p.batch - 1) * p.strideA : 0;
  const int64_t lastB = p.batch > 0 ? (p.batch - 1) * p.strideB : 0;
  const int64_t lastC = p.batch > 0 ? (p.batch - 1) * p.strideC : 0;
  const int64_t needA = p.transA ? extent(p.K, p.M, p.lda) : extent(p.M, p.K, p.lda);
  const int64_t needB = p.transB ? extent(p.N, p.K, p.ldb) : extent(p.K, p.N, p.ldb);
  if ((p.transA ? p.lda < p.M : p.lda < p.K) || (p.transB ? p.ldb < p.K : p.ldb < p.N) ||
      p.ldc < p.N)
    a.fail("leading dimension smaller than the row length", false);
  p.A = a.f32(0, lastA + needA, "A");
  p.B = a.f32(1, lastB + needB, "B");
  p.C = a.f32(2, lastC + extent(p.M, p.N, p.ldc), "C");
  p.bias = a.f32(3, p.N, "bias", true);
  // On a device: cuBLASLt where it loads and our kernel otherwise, in float32
  // or (bf16) with bf16 operands and float32 accumulation.
  const bool bf16 = bf16Arg(a, 18);
  (void)bf16;  // unused in a build without CUDA
  CSKD_DISPATCH(
      a, cuda::gemm(p, bf16 ? cuda::GemmPrecision::Bf16 : cuda::GemmPrecision::Fp32, a.stream()),
      cpu::gemm(p));
  return info.Env().Undefined();
}

}  // namespace

void registerGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm, "gemm"));
}

}  // namespace cskd::binding
