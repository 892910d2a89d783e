#include "cpu/elementwise.h"

#include "binding/args.h"
#include "cpu/gelu.h"

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
  cpu::add(a.f32(0, n, "a"), a.f32(1, n, "b"), a.f32(2, n, "out"), n);
  return info.Env().Undefined();
}

// axpy(alpha, x, y, n)
Napi::Value Axpy(const Napi::CallbackInfo& info) {
  Args a(info, "axpy");
  const int64_t n = a.i64(3, "n");
  cpu::axpy(static_cast<float>(a.num(0, "alpha")), a.f32(1, n, "x"), a.f32(2, n, "y"), n);
  return info.Env().Undefined();
}

// scale(x, n, alpha)
Napi::Value Scale(const Napi::CallbackInfo& info) {
  Args a(info, "scale");
  const int64_t n = a.i64(1, "n");
  cpu::scale(a.f32(0, n, "x"), n, static_cast<float>(a.num(2, "alpha")));
  return info.Env().Undefined();
}

// biasAdd(x, bias, out, rows, cols)
Napi::Value BiasAdd(const Napi::CallbackInfo& info) {
  Args a(info, "biasAdd");
  const int64_t rows = a.i64(3, "rows"), cols = a.i64(4, "cols");
  cpu::biasAdd(a.f32(0, rows * cols, "x"), a.f32(1, cols, "bias"), a.f32(2, rows * cols, "out"),
               rows, cols);
  return info.Env().Undefined();
}

// biasGradient(dy, dbias, rows, cols, accumulate)
Napi::Value BiasGradient(const Napi::CallbackInfo& info) {
  Args a(info, "biasGradient");
  const int64_t rows = a.i64(2, "rows"), cols = a.i64(3, "cols");
  cpu::biasGradient(a.f32(0, rows * cols, "dy"), a.f32(1, cols, "dbias"), rows, cols,
                    a.flag(4, "accumulate"));
  return info.Env().Undefined();
}

// geluForward(x, y, n, kind)
Napi::Value GeluForward(const Napi::CallbackInfo& info) {
  Args a(info, "geluForward");
  const int64_t n = a.i64(2, "n");
  cpu::geluForward(a.f32(0, n, "x"), a.f32(1, n, "y"), n, geluKind(a, 3));
  return info.Env().Undefined();
}

// geluBackward(x, dy, dx, n, kind, accumulate)
Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  Args a(info, "geluBackward");
  const int64_t n = a.i64(3, "n");
  cpu::geluBackward(a.f32(0, n, "x"), a.f32(1, n, "dy"), a.f32(2, n, "dx"), n, geluKind(a, 4),
                    a.flag(5, "accumulate"));
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
