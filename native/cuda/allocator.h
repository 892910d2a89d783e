// A stream-ordered caching allocator of device memory over cudaMalloc.
//
// cudaMalloc/cudaFree synchronise the device and cost tens of microseconds, so
// a training step that allocates its activations and scratch each time would
// stall on them. Freed blocks go to a cache, binned by rounded size, and a
// later request of a similar size reuses one. A request that cudaMalloc
// cannot satisfy first releases the whole cache and tries again.
//
// Reuse is stream-ordered, as in PyTorch's allocator. Each block belongs to
// the stream it was allocated for, and the cache hands a freed block only to
// a later request on that same stream, where launch order alone makes reuse
// safe. A block that another stream also touches (the copy stream's upload
// buffers, which the compute stream reads) is marked with recordStream();
// when it is released, an event is recorded on each such stream and the
// block waits, pending, until every event has completed, so no kernel still
// reading it can see its next owner's data.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

namespace cskd::cuda {

class DeviceAllocator {
 public:
  static DeviceAllocator& instance();

  // Device memory of at least `bytes` on the current device, 256-byte aligned,
  // for work on `stream` (null: the device's compute stream, deviceStream()).
  void* allocate(size_t bytes, cudaStream_t stream = nullptr);
  // Notes that work on `stream`, other than the block's own, uses the block.
  void recordStream(void* ptr, cudaStream_t stream);
  // Returns a block from allocate() to the cache (after the work of the
  // streams recorded on it). Null is ignored.
  void release(void* ptr);
  // Waits for pending blocks, then frees every cached block of every device.
  void emptyCache();

  size_t bytesInUse() const;
  size_t bytesCached() const;
  // Released blocks still waiting for another stream's work.
  size_t bytesPending() const;

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
