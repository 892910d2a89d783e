#include "cpu/elementwise.h"

#include "binding/args.h"
#include "cpu/gelu.h"
#ifdef CSKD_HAVE_CUDA
#include "cuda/elementwise.h"
#include "cuda/gelu.h"
#endif

namespace cskd::binding {
namespace {

cpu::GeluKind geluKind(const Args& a, size_t i) {
  int64_t k = a.i64(i, "kind");
  if (k > 2) a.fail("kind must be 0 (erf), 1 (tanh) or 2 (quick)", false);
  return static_cast<cpu::GeluKind>(k);
}

// add(a, b, out, n)
Napi::Value Add(const Napi::CallbackInfo& info) {
  Args a(info, "add");
  const int64_t n = a.i64(3, "n");
  const float *x = a.f32(0, n, "a"), *y = a.f32(1, n, "b");
  float* out = a.f32(2, n, "out");
  CSKD_DISPATCH(a, cuda::add(x, y, out, n, a.stream()), cpu::add(x, y, out, n));
  return info.Env().Undefined();
}

// axpy(alpha, x, y, n)
Napi::Value Axpy(const Napi::CallbackInfo& info) {
  Args a(info, "axpy");
  const int64_t n = a.i64(3, "n");
  const float alpha = static_cast<float>(a.num(0, "alpha"));
  const float* x = a.f32(1, n, "x");
  float* y = a.f32(2, n, "y");
  CSKD_DISPATCH(a, cuda::axpy(alpha, x, y, n, a.stream()), cpu::axpy(alpha, x, y, n));
  return info.Env().Undefined();
}

// scale(x, n, alpha)
Napi::Value Scale(const Napi::CallbackInfo& info) {
  Args a(info, "scale");
  const int64_t n = a.i64(1, "n");
  float* x = a.f32(0, n, "x");
  const float alpha = static_cast<float>(a.num(2, "alpha"));
  CSKD_DISPATCH(a, cuda::scale(x, n, alpha, a.stream()), cpu::scale(x, n, alpha));
  return info.Env().Undefined();
}

// biasAdd(x, bias, out, rows, cols)
Napi::Value BiasAdd(const Napi::CallbackInfo& info) {
  Args a(info, "biasAdd");
  const int64_t rows = a.i64(3, "rows"), cols = a.i64(4, "cols");
  const float *x = a.f32(0, rows * cols, "x"), *bias = a.f32(1, cols, "bias");
  float* out = a.f32(2, rows * cols, "out");
  CSKD_DISPATCH(a, cuda::biasAdd(x, bias, out, rows, cols, a.stream()),
                cpu::biasAdd(x, bias, out, rows, cols));
  return info.Env().Undefined();
}

// biasGradient(dy, dbias, rows, cols, accumulate)
Napi::Value BiasGradient(const Napi::CallbackInfo& info) {
  Args a(info, "biasGradient");
  const int64_t rows = a.i64(2, "rows"), cols = a.i64(3, "cols");
  const float* dy = a.f32(0, rows * cols, "dy");
  float* dbias = a.f32(1, cols, "dbias");
  const bool acc = a.flag(4, "accumulate");
  CSKD_DISPATCH(a, cuda::biasGradient(dy, dbias, rows, cols, acc, a.stream()),
                cpu::biasGradient(dy, dbias, rows, cols, acc));
  return info.Env().Undefined();
}

// geluForward(x, y, n, kind)
Napi::Value GeluForward(const Napi::CallbackInfo& info) {
  Args a(info, "geluForward");
  const int64_t n = a.i64(2, "n");
  const float* x = a.f32(0, n, "x");
  float* y = a.f32(1, n, "y");
  const cpu::GeluKind kind = geluKind(a, 3);
  CSKD_DISPATCH(a, cuda::geluForward(x, y, n, kind, a.stream()), cpu::geluForward(x, y, n, kind));
  return info.Env().Undefined();
}

// geluBackward(x, dy, dx, n, kind, accumulate)
Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  Args a(info, "geluBackward");
  const int64_t n = a.i64(3, "n");
  const float *x = a.f32(0, n, "x"), *dy = a.f32(1, n, "dy");
  float* dx = a.f32(2, n, "dx");
  const cpu::GeluKind kind = geluKind(a, 4);
  const bool acc = a.flag(5, "accumulate");
  CSKD_DISPATCH(a, cuda::geluBackward(x, dy, dx, n, kind, acc, a.stream()),
                cpu::geluBackward(x, dy, dx, n, kind, acc));
  return info.Env().Undefined();
}

}  // namespace

void registerElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("add", Napi::Function::New(env, Add, "add"));
  exports.Set("axpy", Napi::Function::New(env, Axpy, "axpy"));
  exports.Set("scale", Napi::Function::New(env, Scale, "scale"));
  exports.Set("biasAdd", Napi::Function::New(env, BiasAdd, "biasAdd"));
  exports.Set("biasGradient", Napi::Function::New(env, BiasGradient, "biasGradient"));
  exports.Set("geluForward", Napi::Function::New(env, GeluForward, "geluForward"));
  exports.Set("geluBackward", Napi::Function::New(env, GeluBackward, "geluBackward"));
}

}  // namespace cskd::binding
