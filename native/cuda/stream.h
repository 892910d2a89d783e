// The streams of each device, and the copies between host and device.
//
// cskd runs every kernel of a device on one compute stream, created on first
// use. Ordering on that stream is what makes the caching allocator's reuse
// safe (allocator.h) and what lets a step run with no synchronisation except
// the reads the host asks for. The copy helpers enqueue on that stream; only
// the copy to the host waits, and only for this device's stream.
//
// A second stream per device, the copy stream, carries uploads: the next
// batch's inputs travel host to device from pinned buffers while the compute
// stream still runs this step, and the compute stream waits for an upload
// (an event) only where its later work begins.
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

// The device's copy stream (see above).
cudaStream_t copyStream(int device);
// dst (device, allocated for the copy stream) <- src (host), on the copy
// stream, through one of two pinned staging buffers: src is copied into the
// buffer at once (so the caller may reuse it), the buffer's previous upload
// having been waited for first. `done` is recorded after the copy; the
// compute stream must wait for it (cudaStreamWaitEvent) before its first use
// of dst, and only then, so that this step's kernels need not wait for the
// next step's inputs.
void upload(void* dst, const void* src, size_t bytes, int device, cudaEvent_t done);
// Tests: the compute or the copy stream sleeps `ms` on the host
// (cudaLaunchHostFunc), holding back everything enqueued on it after.
void holdStream(cudaStream_t stream, int ms);

struct MemoryInfo {
  size_t free = 0, total = 0;
};
MemoryInfo memoryInfo(int device);

}  // namespace cskd::cuda
