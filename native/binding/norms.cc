#include "binding/args.h"
#include "cpu/layernorm.h"
#include "cpu/softmax.h"

namespace cskd::binding {
namespace {

// layerNormForward(x, gamma, beta, y, mean, rstd, rows, cols, eps)
Napi::Value LnForward(const Napi::CallbackInfo& info) {
  Args a(info, "layerNormForward");
  const int64_t rows = a.i64(6, "rows"), cols = a.i64(7, "cols");
  const float eps = static_cast<float>(a.num(8, "eps"));
  cpu::layerNormForward(a.f32(0, rows * cols, "x"), a.f32(1, cols, "gamma"), a.f32(2, cols, "beta"),
                        a.f32(3, rows * cols, "y"), a.f32(4, rows, "mean"), a.f32(5, rows, "rstd"),
                        rows, cols, eps);
  return info.Env().Undefined();
}

// layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta, rows, cols, accumulate)
Napi::Value LnBackward(const Napi::CallbackInfo& info) {
  Args a(info, "layerNormBackward");
  const int64_t rows = a.i64(8, "rows"), cols = a.i64(9, "cols");
  const bool acc = a.flag(10, "accumulate");
  cpu::layerNormBackward(a.f32(0, rows * cols, "x"), a.f32(1, cols, "gamma"),
                         a.f32(2, rows, "mean"), a.f32(3, rows, "rstd"),
                         a.f32(4, rows * cols, "dy"), a.f32(5, rows * cols, "dx"),
                         a.f32(6, cols, "dgamma"), a.f32(7, cols, "dbeta"), rows, cols, acc);
  return info.Env().Undefined();
}

// softmaxForward(x, y, rows, cols, temperature)
Napi::Value SmForward(const Napi::CallbackInfo& info) {
  Args a(info, "softmaxForward");
  const int64_t rows = a.i64(2, "rows"), cols = a.i64(3, "cols");
  const float t = static_cast<float>(a.num(4, "temperature"));
  if (cols < 1) a.fail("cols must be positive", false);
  cpu::softmaxForward(a.f32(0, rows * cols, "x"), a.f32(1, rows * cols, "y"), rows, cols, t);
  return info.Env().Undefined();
}

// softmaxBackward(y, dy, dx, rows, cols, temperature)
Napi::Value SmBackward(const Napi::CallbackInfo& info) {
  Args a(info, "softmaxBackward");
  const int64_t rows = a.i64(3, "rows"), cols = a.i64(4, "cols");
  const float t = static_cast<float>(a.num(5, "temperature"));
  cpu::softmaxBackward(a.f32(0, rows * cols, "y"), a.f32(1, rows * cols, "dy"),
                       a.f32(2, rows * cols, "dx"), rows, cols, t);
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
