// Caching allocator (see allocator.h). Sizes round up to 512 bytes below 1 MiB
// and to 2 MiB above, so blocks of nearby sizes share bins; a cached block is
// reused for a request at least half its size, which bounds the waste at 2x.
// Bins are per stream (a stream belongs to one device). Released blocks that
// other streams used wait in `pending` with one event per such stream; every
// allocate() and release() moves the ones whose events have completed into
// the cache, so nothing blocks on a pending block except emptyCache().
#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/allocator.h"
#include "cuda/common.h"
#include "cuda/stream.h"

namespace cskd::cuda {

struct DeviceAllocator::State {
  struct Block {
    size_t size;
    int device;
    cudaStream_t stream;
    std::vector<cudaStream_t> uses;  // other streams that touched it
  };
  struct Bins {
    int device;
    std::multimap<size_t, void*> bySize;
  };
  struct Pending {
    void* ptr;
    Block block;
    std::vector<cudaEvent_t> events;
  };
  mutable std::mutex mu;
  std::unordered_map<void*, Block> live;
  std::map<cudaStream_t, Bins> cached;
  std::vector<Pending> pending;
  std::map<int, std::vector<cudaEvent_t>> idleEvents;  // device -> events to reuse
  size_t inUse = 0, cachedBytes = 0, pendingBytes = 0;

  void cache(void* p, const Block& b) {
    Bins& bins = cached[b.stream];
    bins.device = b.device;
    bins.bySize.emplace(b.size, p);
    cachedBytes += b.size;
  }
  // An event of `device`, which must be current.
  cudaEvent_t event(int device) {
    auto& pool = idleEvents[device];
    if (!pool.empty()) {
      cudaEvent_t e = pool.back();
      pool.pop_back();
      return e;
    }
    cudaEvent_t e = nullptr;
    CUDA_CHECK(cudaEventCreate(&e));
    return e;
  }
  // Pending blocks whose every event has completed go to the cache.
  void collect() {
    auto done = [](cudaEvent_t e) {
      const cudaError_t err = cudaEventQuery(e);
      if (err == cudaErrorNotReady) {
        cudaGetLastError();  // not an error: clear it, as the query leaves it set
        return false;
      }
      CUDA_CHECK(err);
      return true;
    };
    auto it = std::remove_if(pending.begin(), pending.end(), [&](Pending& p) {
      if (!std::all_of(p.events.begin(), p.events.end(), done)) return false;
      for (cudaEvent_t e : p.events) idleEvents[p.block.device].push_back(e);
      pendingBytes -= p.block.size;
      cache(p.ptr, p.block);
      return true;
    });
    pending.erase(it, pending.end());
  }
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

void* DeviceAllocator::allocate(size_t bytes, cudaStream_t stream) {
  State& s = state();
  const size_t size = roundSize(bytes);
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  if (!stream) stream = deviceStream(device);
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.collect();
    auto& bins = s.cached[stream];
    bins.device = device;
    auto it = bins.bySize.lower_bound(size);
    if (it != bins.bySize.end() && it->first <= 2 * size) {
      void* p = it->second;
      const size_t got = it->first;
      bins.bySize.erase(it);
      s.cachedBytes -= got;
      s.inUse += got;
      s.live[p] = {got, device, stream, {}};
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
  s.live[p] = {size, device, stream, {}};
  return p;
}

void DeviceAllocator::recordStream(void* ptr, cudaStream_t stream) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.live.find(ptr);
  if (it == s.live.end() || stream == it->second.stream) return;
  auto& uses = it->second.uses;
  if (std::find(uses.begin(), uses.end(), stream) == uses.end()) uses.push_back(stream);
}

void DeviceAllocator::release(void* ptr) {
  if (!ptr) return;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.live.find(ptr);
  if (it == s.live.end()) return;
  State::Block b = std::move(it->second);
  s.live.erase(it);
  s.inUse -= b.size;
  if (b.uses.empty()) {
    s.cache(ptr, b);
  } else {
    // The other streams may still be reading: the block is free once each
    // has reached this point of its queue.
    State::Pending p{ptr, b, {}};
    int current = 0;
    CUDA_CHECK(cudaGetDevice(&current));
    CUDA_CHECK(cudaSetDevice(b.device));  // an event records on its own device's streams
    for (cudaStream_t use : b.uses) {
      cudaEvent_t e = s.event(b.device);
      CUDA_CHECK(cudaEventRecord(e, use));
      p.events.push_back(e);
    }
    CUDA_CHECK(cudaSetDevice(current));
    s.pendingBytes += b.size;
    s.pending.push_back(std::move(p));
  }
  s.collect();
}

void DeviceAllocator::emptyCache() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  for (auto& p : s.pending)
    for (cudaEvent_t e : p.events) CUDA_CHECK(cudaEventSynchronize(e));
  s.collect();
  int current = 0;
  cudaGetDevice(&current);
  for (auto& [stream, bins] : s.cached) {
    cudaSetDevice(bins.device);
    for (auto& [size, p] : bins.bySize) cudaFree(p);
    bins.bySize.clear();
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

size_t DeviceAllocator::bytesPending() const {
  std::lock_guard<std::mutex> lock(state().mu);
  return state().pendingBytes;
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
