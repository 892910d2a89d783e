// Per-device streams and copies (see stream.h).
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "cuda/common.h"
#include "cuda/stream.h"

namespace cskd::cuda {

namespace {

// A stream of `device` per role (compute, copy), created on first use with
// the device current. Non-blocking: work on the legacy default stream (a
// library's stray cudaMemcpy) does not serialise with ours.
enum class Role { Compute, Copy };
cudaStream_t streamOf(int device, Role role) {
  static std::mutex mu;
  static std::unordered_map<int, cudaStream_t> streams[2];
  CUDA_CHECK(cudaSetDevice(device));
  std::lock_guard<std::mutex> lock(mu);
  auto& byDevice = streams[static_cast<int>(role)];
  auto it = byDevice.find(device);
  if (it != byDevice.end()) return it->second;
  cudaStream_t s = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  byDevice[device] = s;
  return s;
}

}  // namespace

cudaStream_t deviceStream(int device) { return streamOf(device, Role::Compute); }

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

cudaStream_t copyStream(int device) { return streamOf(device, Role::Copy); }

namespace {

// Two pinned buffers per device, used in turn: while the copy engine reads
// one, the host fills the other. A buffer grows (freed and allocated again)
// to the largest upload it has carried, so steady-state steps allocate none.
struct Staging {
  struct Slot {
    void* host = nullptr;
    size_t capacity = 0;
    cudaEvent_t done = nullptr;  // recorded after the slot's last upload
  };
  Slot slots[2];
  int next = 0;
};

}  // namespace

void upload(void* dst, const void* src, size_t bytes, int device, cudaEvent_t done) {
  if (bytes == 0) return;
  static std::mutex mu;
  static std::unordered_map<int, Staging> staging;
  cudaStream_t copy = copyStream(device);
  std::lock_guard<std::mutex> lock(mu);
  Staging& st = staging[device];
  Staging::Slot& slot = st.slots[st.next];
  st.next ^= 1;
  if (!slot.done) CUDA_CHECK(cudaEventCreate(&slot.done));
  // The copy engine may still be reading this buffer for the upload before last.
  CUDA_CHECK(cudaEventSynchronize(slot.done));
  if (slot.capacity < bytes) {
    CUDA_CHECK(cudaFreeHost(slot.host));
    slot.host = nullptr;
    slot.capacity = 0;
    CUDA_CHECK(cudaMallocHost(&slot.host, bytes));
    slot.capacity = bytes;
  }
  std::memcpy(slot.host, src, bytes);
  CUDA_CHECK(cudaMemcpyAsync(dst, slot.host, bytes, cudaMemcpyHostToDevice, copy));
  CUDA_CHECK(cudaEventRecord(slot.done, copy));
  CUDA_CHECK(cudaEventRecord(done, copy));
}

namespace {
void sleepOnHost(void* ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(reinterpret_cast<intptr_t>(ms)));
}
}  // namespace

void holdStream(cudaStream_t stream, int ms) {
  CUDA_CHECK(cudaLaunchHostFunc(stream, sleepOnHost, reinterpret_cast<void*>(intptr_t(ms))));
}

MemoryInfo memoryInfo(int device) {
  MemoryInfo m;
  CUDA_CHECK(cudaSetDevice(device));
  CUDA_CHECK(cudaMemGetInfo(&m.free, &m.total));
  return m;
}

}  // namespace cskd::cuda
