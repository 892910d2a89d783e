#include "binding/args.h"
#include "cpu/layernorm.h"
#include "cpu/softmax.h"
#ifdef CSKD_HAVE_CUDA
#include "cuda/layernorm.h"
#include "cuda/softmax.h"
#endif

namespace cskd::binding {
namespace {

// layerNormForward(x, gamma, beta, y, mean, rstd, rows, cols, eps)
Napi::Value LnForward(const Napi::CallbackInfo& info) {
  Args a(info, "layerNormForward");
  const int64_t rows = a.i64(6, "rows"), cols = a.i64(7, "cols");
  const float eps = static_cast<float>(a.num(8, "eps"));
  const float *x = a.f32(0, rows * cols, "x"), *gamma = a.f32(1, cols, "gamma"),
              *beta = a.f32(2, cols, "beta");
  float *y = a.f32(3, rows * cols, "y"), *mean = a.f32(4, rows, "mean"),
        *rstd = a.f32(5, rows, "rstd");
  CSKD_DISPATCH(a,
                cuda::layerNormForward(x, gamma, beta, y, mean, rstd, rows, cols, eps, a.stream()),
                cpu::layerNormForward(x, gamma, beta, y, mean, rstd, rows, cols, eps));
  return info.Env().Undefined();
}

// layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta, rows, cols, accumulate)
Napi::Value LnBackward(const Napi::CallbackInfo& info) {
  Args a(info, "layerNormBackward");
  const int64_t rows = a.i64(8, "rows"), cols = a.i64(9, "cols");
  const bool acc = a.flag(10, "accumulate");
  const float *x = a.f32(0, rows * cols, "x"), *gamma = a.f32(1, cols, "gamma"),
              *mean = a.f32(2, rows, "mean"), *rstd = a.f32(3, rows, "rstd"),
              *dy = a.f32(4, rows * cols, "dy");
  float *dx = a.f32(5, rows * cols, "dx"), *dgamma = a.f32(6, cols, "dgamma"),
        *dbeta = a.f32(7, cols, "dbeta");
  CSKD_DISPATCH(
      a,
      cuda::layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta, rows, cols, acc,
                              a.stream()),
      cpu::layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta, rows, cols, acc));
  return info.Env().Undefined();
}

// softmaxForward(x, y, rows, cols, temperature)
Napi::Value SmForward(const Napi::CallbackInfo& info) {
  Args a(info, "softmaxForward");
  const int64_t rows = a.i64(2, "rows"), cols = a.i64(3, "cols");
  const float t = static_cast<float>(a.num(4, "temperature"));
  if (cols < 1) a.fail("cols must be positive", false);
  const float* x = a.f32(0, rows * cols, "x");
  float* y = a.f32(1, rows * cols, "y");
  CSKD_DISPATCH(a, cuda::softmaxForward(x, y, rows, cols, t, a.stream()),
                cpu::softmaxForward(x, y, rows, cols, t));
  return info.Env().Undefined();
}

// softmaxBackward(y, dy, dx, rows, cols, temperature)
Napi::Value SmBackward(const Napi::CallbackInfo& info) {
  Args a(info, "softmaxBackward");
  const int64_t rows = a.i64(3, "rows"), cols = a.i64(4, "cols");
  const float t = static_cast<float>(a.num(5, "temperature"));
  const float *y = a.f32(0, rows * cols, "y"), *dy = a.f32(1, rows * cols, "dy");
  float* dx = a.f32(2, rows * cols, "dx");
  CSKD_DISPATCH(a, cuda::softmaxBackward(y, dy, dx, rows, cols, t, a.stream()),
                cpu::softmaxBackward(y, dy, dx, rows, cols, t));
  return info.Env().Undefined();
}

}  // namespace

void registerNorms(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNormForward", Napi::Function::New(env, LnForward, "layerNormForward"));
  exports.Set("layerNormBackward", Napi::Function::New(env, LnBackward, "layerNormBackward"));
  exports.Set("softmaxForward", Napi::Function::New(env, SmForward, "softmaxForward"));
  exports.Set("softmaxBackward", Napi::Function::New(env, SmBackward, "softmaxBackward"));
}

}  // namespace cskd::binding
