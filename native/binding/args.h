// Argument unpacking for the N-API surface. The TS layer validates shapes,
// dtypes and devices and raises errors that name the op; these checks are the
// cheap last line (types and byte lengths) so a bad call throws instead of
// touching memory it does not own.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

namespace cskd::binding {

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op) : info_(info), op_(op) {}

  Napi::Env env() const { return info_.Env(); }

  // A Float32Array with at least `need` elements; null/undefined when optional.
  float* f32(size_t i, int64_t need, const char* name, bool optional = false) const {
    Napi::Value v = info_[i];
    if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      fail(std::string(name) + " must be a Float32Array", true);
    Napi::Float32Array a = v.As<Napi::Float32Array>();
    if (need < 0 || static_cast<int64_t>(a.ElementLength()) < need)
      fail(std::string(name) + " holds " + std::to_string(a.ElementLength()) + " elements, needs " +
               std::to_string(need),
           false);
    return a.Data();
  }

  Napi::Float64Array f64array(size_t i, int64_t need, const char* name) const {
    Napi::Value v = info_[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      fail(std::string(name) + " must be a Float64Array", true);
    Napi::Float64Array a = v.As<Napi::Float64Array>();
    if (static_cast<int64_t>(a.ElementLength()) < need)
      fail(std::string(name) + " is too short", false);
    return a;
  }

  int64_t i64(size_t i, const char* name) const {
    Napi::Value v = info_[i];
    if (!v.IsNumber()) fail(std::string(name) + " must be a number", true);
    double d = v.As<Napi::Number>().DoubleValue();
    if (d < 0 || d != static_cast<double>(static_cast<int64_t>(d)))
      fail(std::string(name) + " must be a non-negative integer", false);
    return static_cast<int64_t>(d);
  }

  double num(size_t i, const char* name) const {
    Napi::Value v = info_[i];
    if (!v.IsNumber()) fail(std::string(name) + " must be a number", true);
    return v.As<Napi::Number>().DoubleValue();
  }

  bool flag(size_t i, const char* name) const {
    Napi::Value v = info_[i];
    if (!v.IsBoolean()) fail(std::string(name) + " must be a boolean", true);
    return v.As<Napi::Boolean>().Value();
  }

  [[noreturn]] void fail(const std::string& what, bool type) const {
    std::string msg = std::string(op_) + ": " + what;
    if (type) throw Napi::TypeError::New(info_.Env(), msg);
    throw Napi::RangeError::New(info_.Env(), msg);
  }

 private:
  const Napi::CallbackInfo& info_;
  const char* op_;
};

// Elements spanned by a strided [B, H, N, D] view with unit stride on D.
inline int64_t stridedExtent(int64_t B, int64_t H, int64_t N, int64_t D, int64_t sB, int64_t sH,
                             int64_t sN) {
  if (B == 0 || H == 0 || N == 0 || D == 0) return 0;
  return (B - 1) * sB + (H - 1) * sH + (N - 1) * sN + D;
}

using Registrar = void (*)(Napi::Env, Napi::Object);
// Each op family's file defines one of these; addon.cc calls them all.
void registerMemory(Napi::Env env, Napi::Object exports);
void registerInfo(Napi::Env env, Napi::Object exports);
void registerGemm(Napi::Env env, Napi::Object exports);
void registerAttention(Napi::Env env, Napi::Object exports);
void registerNorms(Napi::Env env, Napi::Object exports);
void registerElementwise(Napi::Env env, Napi::Object exports);
void registerEmbedding(Napi::Env env, Napi::Object exports);
void registerLosses(Napi::Env env, Napi::Object exports);
void registerOptim(Napi::Env env, Napi::Object exports);
void registerResample(Napi::Env env, Napi::Object exports);

}  // namespace cskd::binding
