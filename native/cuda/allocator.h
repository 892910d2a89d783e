// A caching allocator of device memory over cudaMalloc.
//
// cudaMalloc/cudaFree synchronise the device and cost tens of microseconds, so
// a training step that allocates its activations and scratch each time would
// stall on them. Freed blocks go to a per-device cache, binned by rounded size,
// and a later request of a similar size reuses one. A request that cudaMalloc
// cannot satisfy first releases the whole cache and tries again.
//
// Reuse is not stream-ordered: a block released while a kernel on another
// stream may still read it must not be released until that stream is done.
// With one stream per device (what cskd does) launch order makes reuse safe.
#pragma once
#include <cstddef>

namespace cskd::cuda {

class DeviceAllocator {
 public:
  static DeviceAllocator& instance();

  // Device memory of at least `bytes` on the current device, 256-byte aligned.
  void* allocate(size_t bytes);
  // Returns a block from allocate() to the cache. Null is ignored.
  void release(void* ptr);
  // Frees every cached block of every device (cudaFree).
  void emptyCache();

  size_t bytesInUse() const;
  size_t bytesCached() const;

 private:
  DeviceAllocator() = default;
  struct State;
  State& state() const;
};

// Scratch buffer owned for one scope (the launchers' temporary partial sums).
class DeviceScratch {
 public:
  explicit DeviceScratch(size_t bytes) : ptr_(DeviceAllocator::instance().allocate(bytes)) {}
  ~DeviceScratch() { DeviceAllocator::instance().release(ptr_); }
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_;
};

}  // namespace cskd::cuda
