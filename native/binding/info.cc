// What `cskd info` reports, and the thread-pool and ceiling controls.
#include "binding/args.h"
#include "cpu/cpu_features.h"
#include "cpu/fma_peak.h"
#include "cpu/gemm.h"
#include "cpu/parallel.h"
#ifdef CSKD_HAVE_CUDA
#include "cuda/device.h"
#endif

namespace cskd::binding {
namespace {

Napi::Value CpuFeaturesJs(const Napi::CallbackInfo& info) {
  const CpuFeatures& f = cpuFeatures();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("avx2", f.avx2);
  o.Set("fma", f.fma);
  o.Set("avx512f", f.avx512f);
  o.Set("avx512bw", f.avx512bw);
  o.Set("avx512vl", f.avx512vl);
  o.Set("avx512bf16", f.avx512bf16);
  o.Set("avx512vnni", f.avx512vnni);
  o.Set("amxTile", f.amxTile);
  return o;
}

Napi::Value GemmKernel(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), cpu::gemmKernelName());
}

Napi::Value NumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), numThreads());
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Args a(info, "setNumThreads");
  int64_t n = a.i64(0, "threads");
  if (n < 1 || n > 1024) a.fail("threads must be in [1, 1024]", false);
  setNumThreads(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  Args a(info, "measureFmaPeak");
  double seconds = a.num(0, "seconds");
  int64_t threads = a.i64(1, "threads");
  return Napi::Number::New(info.Env(), cpu::measureFmaPeak(seconds, static_cast<int>(threads)));
}

Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Array devices = Napi::Array::New(env);
#ifdef CSKD_HAVE_CUDA
  o.Set("compiled", true);
  o.Set("runtimeVersion", cuda::runtimeVersion());
  std::string reason;
  auto list = cuda::listDevices(&reason);
  for (size_t i = 0; i < list.size(); ++i) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", list[i].name);
    d.Set("computeCapability", std::to_string(list[i].major) + "." + std::to_string(list[i].minor));
    d.Set("memoryBytes", static_cast<double>(list[i].totalMemory));
    d.Set("multiprocessors", list[i].multiprocessors);
#ifdef CSKD_CUDA_EMULATION
    d.Set("emulated", true);  // the CPU emulation of the CUDA runtime (a test build)
#else
    d.Set("emulated", false);
#endif
    devices.Set(static_cast<uint32_t>(i), d);
  }
  if (list.empty()) o.Set("reason", reason);
#else
  o.Set("compiled", false);
  o.Set("reason", "built without nvcc");
#endif
  o.Set("devices", devices);
  return o;
}

}  // namespace

void registerInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("cpuFeatures", Napi::Function::New(env, CpuFeaturesJs, "cpuFeatures"));
  exports.Set("gemmKernel", Napi::Function::New(env, GemmKernel, "gemmKernel"));
  exports.Set("numThreads", Napi::Function::New(env, NumThreads, "numThreads"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("measureFmaPeak", Napi::Function::New(env, FmaPeak, "measureFmaPeak"));
  exports.Set("cudaInfo", Napi::Function::New(env, CudaInfo, "cudaInfo"));
}

}  // namespace cskd::binding
