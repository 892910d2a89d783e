// Per-device streams and copies (see stream.h).
#include <mutex>
#include <unordered_map>

#include "cuda/common.h"
#include "cuda/stream.h"

namespace cskd::cuda {

cudaStream_t deviceStream(int device) {
  static std::mutex mu;
  static std::unordered_map<int, cudaStream_t> streams;
  CUDA_CHECK(cudaSetDevice(device));
  std::lock_guard<std::mutex> lock(mu);
  auto it = streams.find(device);
  if (it != streams.end()) return it->second;
  cudaStream_t s = nullptr;
  // Non-blocking: work on the legacy default stream (a library's stray
  // cudaMemcpy) does not serialise with ours.
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  streams[device] = s;
  return s;
}

void synchronize(int device) { CUDA_CHECK(cudaStreamSynchronize(deviceStream(device))); }

void copyToDevice(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, deviceStream(device)));
}

void copyToHost(void* dst, const void* src, size_t bytes, int device) {
  cudaStream_t s = deviceStream(device);
  if (bytes > 0) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
}

void copyOnDevice(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, deviceStream(device)));
}

void zero(void* dst, size_t bytes, int device) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, deviceStream(device)));
}

MemoryInfo memoryInfo(int device) {
  MemoryInfo m;
  CUDA_CHECK(cudaSetDevice(device));
  CUDA_CHECK(cudaMemGetInfo(&m.free, &m.total));
  return m;
}

}  // namespace cskd::cuda
