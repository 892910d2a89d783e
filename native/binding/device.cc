// Device memory and the device's runtime for JS: blocks from the caching
// allocator behind type-tagged handles, copies between host and device,
// synchronisation, memory figures and the kernel-launch count. Without CUDA
// only the tag exists and `deviceCount` answers 0.
#include <algorithm>
#include <atomic>
#include <string>

#include "binding/args.h"
#ifdef CSKD_HAVE_CUDA
#include "cuda/allocator.h"
#include "cuda/common.h"
#include "cuda/elementwise.h"
#include "cuda/stream.h"
#endif

namespace cskd::binding {

const napi_type_tag kDeviceBlockTag = {0x6a3c1f2e9d4b5a70ULL, 0x8e21c4d7b6f09a13ULL};

#ifdef CSKD_HAVE_CUDA
#ifdef CSKD_CUDA_EMULATION
uint64_t kernelLaunches() { return emu::kernelLaunches(); }
void countDeviceCall() {}
#else
namespace {
std::atomic<uint64_t> gDeviceCalls{0};
}
uint64_t kernelLaunches() { return gDeviceCalls.load(); }
void countDeviceCall() { gDeviceCalls.fetch_add(1); }
#endif

cudaStream_t Args::stream() const {
  countDeviceCall();
  return cuda::deviceStream(place_.index);
}

void awaitUpload(DeviceBlock* b) {
  CUDA_CHECK(cudaStreamWaitEvent(cuda::deviceStream(b->device), b->uploaded, 0));
  b->uploadPending = false;
}

namespace {

int deviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

int deviceArg(const Args& a, size_t i) {
  const int64_t d = a.i64(i, "device");
  const int n = deviceCount();
  if (d >= n)
    a.fail("no device cuda:" + std::to_string(d) + " (" + std::to_string(n) + " found)", false);
  return static_cast<int>(d);
}

// Returns a block to the allocator and drops its upload event.
void releaseBlock(DeviceBlock* b) {
  b->released = true;
  cuda::DeviceAllocator::instance().release(b->ptr);
  if (b->uploaded) cudaEventDestroy(b->uploaded);  // legal with a record pending
  b->uploaded = nullptr;
}

// deviceAllocate(device, bytes, zero, forUpload?): a handle to at least
// `bytes` of device memory; zero-filled in stream order when `zero`. With
// `forUpload` the block belongs to the copy stream (a deviceUpload
// destination), else to the compute stream.
Napi::Value Allocate(const Napi::CallbackInfo& info) {
  Args a(info, "deviceAllocate");
  const int device = deviceArg(a, 0);
  const size_t bytes = static_cast<size_t>(a.i64(1, "bytes"));
  const bool zero = a.flag(2, "zero");
  const bool forUpload = a.optionalFlag(3, "forUpload");
  cudaStream_t stream = forUpload ? cuda::copyStream(device) : cuda::deviceStream(device);
  void* p = nullptr;
  try {
    p = cuda::DeviceAllocator::instance().allocate(bytes, stream);
  } catch (const cuda::CudaError& e) {
    const cuda::MemoryInfo m = cuda::memoryInfo(device);
    a.fail("out of device memory allocating " + std::to_string(bytes) +
               " bytes on cuda:" + std::to_string(device) + " (" + std::to_string(m.free) + " of " +
               std::to_string(m.total) + " bytes free, " +
               std::to_string(cuda::DeviceAllocator::instance().bytesInUse()) + " in use)",
           false);
  }
  if (zero) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream));
  auto* block = new DeviceBlock{p, bytes, device};
  block->forUpload = forUpload;
  auto handle = Napi::External<DeviceBlock>::New(info.Env(), block, [](Napi::Env, DeviceBlock* b) {
    // The allocator keeps reuse in stream order (allocator.h), so a later
    // allocation that gets this block runs after every kernel already
    // enqueued on it.
    if (!b->released) releaseBlock(b);
    delete b;
  });
  handle.TypeTag(&kDeviceBlockTag);
  return handle;
}

// deviceRelease(handle): returns the block to the allocator now; later uses
// of the handle throw.
Napi::Value Release(const Napi::CallbackInfo& info) {
  Args a(info, "deviceRelease");
  releaseBlock(a.deviceBlock(info[0], "handle"));
  return info.Env().Undefined();
}

// deviceUpload(dst, src, n): n floats host -> device on the copy stream
// (stream.h upload). dst must be a view of a forUpload block; the first op
// that reads it afterwards makes the compute stream wait for the copy.
Napi::Value Upload(const Napi::CallbackInfo& info) {
  Args a(info, "deviceUpload");
  const int64_t n = a.i64(2, "n");
  Args da(info, "deviceUpload"), sa(info, "deviceUpload");
  float* dst = da.f32(0, n, "dst");
  const float* src = sa.f32(1, n, "src");
  if (!da.onDevice() || sa.onDevice())
    a.fail("dst must be a device view and src a Float32Array", true);
  DeviceBlock* b = da.deviceBlock(info[0].As<Napi::Object>().Get("handle"), "dst");
  if (!b->forUpload)
    a.fail("dst must be allocated for uploads (deviceAllocate(..., forUpload = true))", true);
  const int device = b->device;
  if (!b->uploaded) CUDA_CHECK(cudaEventCreate(&b->uploaded));
  // The compute stream will read the block: its release then waits for that.
  cuda::DeviceAllocator::instance().recordStream(b->ptr, cuda::deviceStream(device));
  cuda::upload(dst, src, sizeof(float) * static_cast<size_t>(n), device, b->uploaded);
  b->uploadPending = true;
  return info.Env().Undefined();
}

// deviceHoldStream(device, ms, copy): tests only. The compute (or with
// `copy`, the copy) stream sleeps ms on the host before its later work, so a
// test can hold work in flight while it checks what must wait for it.
Napi::Value HoldStream(const Napi::CallbackInfo& info) {
  Args a(info, "deviceHoldStream");
  const int device = deviceArg(a, 0);
  const int64_t ms = a.i64(1, "ms");
  cuda::holdStream(a.flag(2, "copy") ? cuda::copyStream(device) : cuda::deviceStream(device),
                   static_cast<int>(ms));
  return info.Env().Undefined();
}

// deviceCopy(dst, src, n): n floats between any two of host and device
// (device to host waits for the stream; the others only enqueue).
Napi::Value Copy(const Napi::CallbackInfo& info) {
  Args a(info, "deviceCopy");
  const int64_t n = a.i64(2, "n");
  Args da(info, "deviceCopy"), sa(info, "deviceCopy");
  float* dst = da.f32(0, n, "dst");
  const float* src = sa.f32(1, n, "src");
  const size_t bytes = sizeof(float) * static_cast<size_t>(n);
  if (da.onDevice() && sa.onDevice()) {
    if (da.where().index != sa.where().index)
      a.fail("copies between devices go through the host", true);
    cuda::copyOnDevice(dst, src, bytes, da.where().index);
  } else if (da.onDevice()) {
    cuda::copyToDevice(dst, src, bytes, da.where().index);
  } else if (sa.onDevice()) {
    cuda::copyToHost(dst, src, bytes, sa.where().index);
  } else {
    std::copy(src, src + n, dst);
  }
  return info.Env().Undefined();
}

// deviceFill(x, n, value)
Napi::Value Fill(const Napi::CallbackInfo& info) {
  Args a(info, "deviceFill");
  const int64_t n = a.i64(1, "n");
  float* x = a.f32(0, n, "x");
  const float value = static_cast<float>(a.num(2, "value"));
  if (!a.onDevice()) a.fail("x must be a device view", true);
  cuda::fill(x, n, value, a.stream());
  return info.Env().Undefined();
}

// flagNonFinite(x, n, flag): flag[0] = 1 where x holds a NaN or an infinity.
Napi::Value FlagNonFinite(const Napi::CallbackInfo& info) {
  Args a(info, "flagNonFinite");
  const int64_t n = a.i64(1, "n");
  const float* x = a.f32(0, n, "x");
  float* flag = a.f32(2, 1, "flag");
  if (!a.onDevice()) a.fail("x must be a device view", true);
  cuda::flagNonFinite(x, n, flag, a.stream());
  return info.Env().Undefined();
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  Args a(info, "deviceSynchronize");
  cuda::synchronize(deviceArg(a, 0));
  return info.Env().Undefined();
}

// deviceMemory(device): the runtime's free/total and the allocator's figures.
Napi::Value Memory(const Napi::CallbackInfo& info) {
  Args a(info, "deviceMemory");
  const cuda::MemoryInfo m = cuda::memoryInfo(deviceArg(a, 0));
  auto& alloc = cuda::DeviceAllocator::instance();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("free", static_cast<double>(m.free));
  o.Set("total", static_cast<double>(m.total));
  o.Set("inUse", static_cast<double>(alloc.bytesInUse()));
  o.Set("cached", static_cast<double>(alloc.bytesCached()));
  o.Set("pending", static_cast<double>(alloc.bytesPending()));
  return o;
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  cuda::DeviceAllocator::instance().emptyCache();
  return info.Env().Undefined();
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("kernelLaunches", static_cast<double>(kernelLaunches()));
#ifdef CSKD_CUDA_EMULATION
  o.Set("emulated", true);
#else
  o.Set("emulated", false);
#endif
  return o;
}

Napi::Value DeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), deviceCount());
}

}  // namespace

void registerDevice(Napi::Env env, Napi::Object exports) {
  exports.Set("deviceCount", Napi::Function::New(env, DeviceCount, "deviceCount"));
  exports.Set("deviceAllocate", Napi::Function::New(env, Allocate, "deviceAllocate"));
  exports.Set("deviceRelease", Napi::Function::New(env, Release, "deviceRelease"));
  exports.Set("deviceCopy", Napi::Function::New(env, Copy, "deviceCopy"));
  exports.Set("deviceUpload", Napi::Function::New(env, Upload, "deviceUpload"));
  exports.Set("deviceHoldStream", Napi::Function::New(env, HoldStream, "deviceHoldStream"));
  exports.Set("deviceFill", Napi::Function::New(env, Fill, "deviceFill"));
  exports.Set("flagNonFinite", Napi::Function::New(env, FlagNonFinite, "flagNonFinite"));
  exports.Set("deviceSynchronize", Napi::Function::New(env, Synchronize, "deviceSynchronize"));
  exports.Set("deviceMemory", Napi::Function::New(env, Memory, "deviceMemory"));
  exports.Set("deviceEmptyCache", Napi::Function::New(env, EmptyCache, "deviceEmptyCache"));
  exports.Set("deviceStats", Napi::Function::New(env, Stats, "deviceStats"));
}

#else

void registerDevice(Napi::Env env, Napi::Object exports) {
  exports.Set("deviceCount", Napi::Function::New(
                                 env,
                                 [](const Napi::CallbackInfo& info) -> Napi::Value {
                                   return Napi::Number::New(info.Env(), 0);
                                 },
                                 "deviceCount"));
}

#endif

}  // namespace cskd::binding
