// The one stream of each device, and the copies between host and device.
//
// cskd runs every kernel of a device on one stream, created on first use.
// Ordering on that stream is what makes the caching allocator's reuse safe
// (allocator.h) and what lets a step run with no synchronisation except the
// reads the host asks for. The copy helpers enqueue on that stream; only the
// copy to the host waits, and only for this device's stream.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace cskd::cuda {

// Makes `device` current and returns its stream.
cudaStream_t deviceStream(int device);
// Waits for everything enqueued on the device's stream.
void synchronize(int device);

// dst (device) <- src (host). Returns at once; the host buffer may be reused
// at once (pageable memory is staged by the runtime).
void copyToDevice(void* dst, const void* src, size_t bytes, int device);
// dst (host) <- src (device), after all earlier work on the stream; waits.
void copyToHost(void* dst, const void* src, size_t bytes, int device);
// Device to device on the stream of `device`.
void copyOnDevice(void* dst, const void* src, size_t bytes, int device);
// Zero bytes, in stream order.
void zero(void* dst, size_t bytes, int device);

struct MemoryInfo {
  size_t free = 0, total = 0;
};
MemoryInfo memoryInfo(int device);

}  // namespace cskd::cuda
