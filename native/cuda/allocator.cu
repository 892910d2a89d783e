// Caching allocator (see allocator.h). Sizes round up to 512 bytes below 1 MiB
// and to 2 MiB above, so blocks of nearby sizes share bins; a cached block is
// reused for a request at least half its size, which bounds the waste at 2x.
#include <map>
#include <mutex>
#include <unordered_map>

#include "cuda/allocator.h"
#include "cuda/common.h"

namespace cskd::cuda {

struct DeviceAllocator::State {
  struct Block {
    size_t size;
    int device;
  };
  mutable std::mutex mu;
  std::unordered_map<void*, Block> live;
  std::map<int, std::multimap<size_t, void*>> cached;  // device -> size -> ptr
  size_t inUse = 0, cachedBytes = 0;
};

DeviceAllocator& DeviceAllocator::instance() {
  static DeviceAllocator a;
  return a;
}

DeviceAllocator::State& DeviceAllocator::state() const {
  static State* s = new State();  // leaked on purpose: outlives static destructors
  return *s;
}

static size_t roundSize(size_t bytes) {
  const size_t small = 512, large = size_t(2) << 20;
  if (bytes == 0) bytes = 1;
  return bytes < (size_t(1) << 20) ? (bytes + small - 1) / small * small
                                   : (bytes + large - 1) / large * large;
}

void* DeviceAllocator::allocate(size_t bytes) {
  State& s = state();
  const size_t size = roundSize(bytes);
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  {
    std::lock_guard<std::mutex> lock(s.mu);
    auto& bins = s.cached[device];
    auto it = bins.lower_bound(size);
    if (it != bins.end() && it->first <= 2 * size) {
      void* p = it->second;
      const size_t got = it->first;
      bins.erase(it);
      s.cachedBytes -= got;
      s.inUse += got;
      s.live[p] = {got, device};
      return p;
    }
  }
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, size);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    emptyCache();
    err = cudaMalloc(&p, size);
  }
  if (err != cudaSuccess) throwCudaError(err, "cudaMalloc", __FILE__, __LINE__);
  std::lock_guard<std::mutex> lock(s.mu);
  s.inUse += size;
  s.live[p] = {size, device};
  return p;
}

void DeviceAllocator::release(void* ptr) {
  if (!ptr) return;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.live.find(ptr);
  if (it == s.live.end()) return;
  s.inUse -= it->second.size;
  s.cachedBytes += it->second.size;
  s.cached[it->second.device].emplace(it->second.size, ptr);
  s.live.erase(it);
}

void DeviceAllocator::emptyCache() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  int current = 0;
  cudaGetDevice(&current);
  for (auto& [device, bins] : s.cached) {
    cudaSetDevice(device);
    for (auto& [size, p] : bins) cudaFree(p);
    bins.clear();
  }
  cudaSetDevice(current);
  s.cachedBytes = 0;
}

size_t DeviceAllocator::bytesInUse() const {
  std::lock_guard<std::mutex> lock(state().mu);
  return state().inUse;
}

size_t DeviceAllocator::bytesCached() const {
  std::lock_guard<std::mutex> lock(state().mu);
  return state().cachedBytes;
}

int multiprocessorCount() {
  static std::mutex mu;
  static std::unordered_map<int, int> counts;
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mu);
  auto it = counts.find(device);
  if (it != counts.end()) return it->second;
  int n = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
  counts[device] = n;
  return n;
}

}  // namespace cskd::cuda
