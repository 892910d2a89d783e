// Argument unpacking for the N-API surface. The TS layer validates shapes,
// dtypes and devices and raises errors that name the op; these checks are the
// cheap last line (types and byte lengths) so a bad call throws instead of
// touching memory it does not own.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#ifdef CSKD_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace cskd::binding {

// A block of device memory from the caching allocator, owned by a JS handle
// (an External, type-tagged so no other External passes for one). JS sees only
// the handle: the bytes are reached through copies (device.cc).
struct DeviceBlock {
  void* ptr;
  size_t bytes;
  int device;
  bool released = false;
  // Allocated for the copy stream (deviceUpload's destinations).
  bool forUpload = false;
#ifdef CSKD_HAVE_CUDA
  // Recorded after the block's last upload; the compute stream has not yet
  // waited for it while `uploadPending`.
  cudaEvent_t uploaded = nullptr;
  bool uploadPending = false;
#endif
};

#ifdef CSKD_HAVE_CUDA
// Makes the compute stream wait for the block's pending upload (device.cc):
// called for every device view an op resolves, so no kernel reads an input
// before it has arrived, whichever op touches it first.
void awaitUpload(DeviceBlock* b);
#endif

// The tag of DeviceBlock handles (device.cc sets it, Args checks it).
extern const napi_type_tag kDeviceBlockTag;

// Where an op's tensors live: the first tensor argument decides, and every
// later one must agree (the TS layer checks this first, naming the tensors).
struct Place {
  bool device = false;
  int index = -1;  // device ordinal
  bool set = false;
  std::string str() const { return device ? "cuda:" + std::to_string(index) : "cpu"; }
};

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op) : info_(info), op_(op) {}

  Napi::Env env() const { return info_.Env(); }

  // A Float32Array, or a device view {handle, offset, length} (in elements),
  // with at least `need` elements; null/undefined when optional.
  float* f32(size_t i, int64_t need, const char* name, bool optional = false) const {
    Napi::Value v = info_[i];
    if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
    if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
      Napi::Float32Array a = v.As<Napi::Float32Array>();
      checkLength(name, static_cast<int64_t>(a.ElementLength()), need);
      place(name, false, -1);
      return a.Data();
    }
    if (v.IsObject() && !v.IsTypedArray() && !v.IsArray() && v.As<Napi::Object>().Has("handle")) {
      Napi::Object o = v.As<Napi::Object>();
      DeviceBlock* b = deviceBlock(o.Get("handle"), name);
      const double offset = o.Get("offset").ToNumber().DoubleValue();
      const double length = o.Get("length").ToNumber().DoubleValue();
      if (!(offset >= 0 && length >= 0 && (offset + length) * 4 <= double(b->bytes)))
        fail(std::string(name) + " is a view outside its device block", false);
      checkLength(name, static_cast<int64_t>(length), need);
      place(name, true, b->device);
#ifdef CSKD_HAVE_CUDA
      if (b->uploadPending) awaitUpload(b);
#endif
      return static_cast<float*>(b->ptr) + static_cast<int64_t>(offset);
    }
    fail(std::string(name) + " must be a Float32Array (or a device view)", true);
  }

  // The block behind a handle from deviceAllocate().
  DeviceBlock* deviceBlock(Napi::Value v, const char* name) const {
    if (!v.IsExternal() || !v.As<Napi::External<DeviceBlock>>().CheckTypeTag(&kDeviceBlockTag))
      fail(std::string(name) + " is not a device memory handle", true);
    DeviceBlock* b = v.As<Napi::External<DeviceBlock>>().Data();
    if (b->released) fail(std::string(name) + " uses device memory that was released", false);
#ifndef CSKD_HAVE_CUDA
    fail("device tensors need an addon built with CUDA", true);
#endif
    return b;
  }

  // Where the tensor arguments read so far live.
  const Place& where() const { return place_; }
  bool onDevice() const { return place_.device; }
#ifdef CSKD_HAVE_CUDA
  // The stream of the tensors' device (made current).
  cudaStream_t stream() const;
#endif

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

  // A boolean that may be left out (undefined: false).
  bool optionalFlag(size_t i, const char* name) const {
    return info_[i].IsUndefined() ? false : flag(i, name);
  }

  [[noreturn]] void fail(const std::string& what, bool type) const {
    std::string msg = std::string(op_) + ": " + what;
    if (type) throw Napi::TypeError::New(info_.Env(), msg);
    throw Napi::RangeError::New(info_.Env(), msg);
  }

 private:
  void checkLength(const char* name, int64_t have, int64_t need) const {
    if (need < 0 || have < need)
      fail(std::string(name) + " holds " + std::to_string(have) + " elements, needs " +
               std::to_string(need),
           false);
  }

  void place(const char* name, bool device, int index) const {
    if (!place_.set) {
      place_ = {device, index, true};
      return;
    }
    if (place_.device != device || place_.index != index) {
      Place here{device, index, true};
      fail(std::string(name) + " is on " + here.str() + ", earlier tensors on " + place_.str(),
           true);
    }
  }

  const Napi::CallbackInfo& info_;
  const char* op_;
  mutable Place place_;
};

// Elements spanned by a strided [B, H, N, D] view with unit stride on D.
inline int64_t stridedExtent(int64_t B, int64_t H, int64_t N, int64_t D, int64_t sB, int64_t sH,
                             int64_t sN) {
  if (B == 0 || H == 0 || N == 0 || D == 0) return 0;
  return (B - 1) * sB + (H - 1) * sH + (N - 1) * sN + D;
}

// Runs the CUDA launcher when the op's tensors are on a device (read them
// first: the first tensor argument sets the place), the CPU kernel otherwise.
// Without CUDA the device branch does not exist.
#ifdef CSKD_HAVE_CUDA
#define CSKD_DISPATCH(a, cudaCall, cpuCall) \
  do {                                      \
    if ((a).onDevice()) {                   \
      cudaCall;                             \
    } else {                                \
      cpuCall;                              \
    }                                       \
  } while (0)
#else
#define CSKD_DISPATCH(a, cudaCall, cpuCall) \
  do {                                      \
    cpuCall;                                \
  } while (0)
#endif

// The trailing `bf16` argument of gemm and attention: run on the bf16 tensor-core
// kernels (operands rounded to bf16, float32 accumulation). Only a device has
// them; on the CPU it is refused rather than silently run in float32.
inline bool bf16Arg(const Args& a, size_t i) {
  const bool bf16 = a.optionalFlag(i, "bf16");
  if (bf16 && !a.onDevice())
    a.fail("bf16 runs only on a CUDA device (the tensors are on the cpu)", false);
  return bf16;
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
void registerDevice(Napi::Env env, Napi::Object exports);
void registerNccl(Napi::Env env, Napi::Object exports);

#ifdef CSKD_HAVE_CUDA
// Counts the binding's device kernel calls (what deviceStats reports on a
// real GPU, where the runtime keeps no count).
void countDeviceCall();
#endif

}  // namespace cskd::binding
