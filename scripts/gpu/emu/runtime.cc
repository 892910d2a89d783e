// The emulated CUDA runtime (declarations and contract in cuda_runtime.h).
//
// One executor thread runs every stream's work, so kernels never overlap and
// emu.h's function-local `__shared__` statics stay private to one block.
// Streams are FIFO queues: a call that enqueues returns at once, and the host
// sees the result only after a synchronising call, as on a GPU. The null
// stream is the legacy default stream: work on it first waits for every other
// stream, and the synchronous calls (cudaMemcpy, cudaMemset, cudaFree) drain
// the whole device, as the real ones do.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cuda_runtime.h"

struct CUevent_st {
  uint64_t recorded = 0;   // records issued
  uint64_t completed = 0;  // records the executor has reached
  double ms = 0;           // time of the last completed record
};

namespace {

struct Task {
  enum Kind { Work, Record, Wait, Host } kind;
  std::function<void()> work;
  cudaEvent_t event = nullptr;
  uint64_t target = 0;
};

}  // namespace

struct CUstream_st {
  std::deque<Task> queue;
  bool busy = false;  // the executor is running this stream's head
};

namespace {

double nowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Runtime {
  std::mutex mu;
  std::condition_variable cv;  // the executor waits for work; hosts wait for progress
  std::vector<CUstream_st*> streams;
  CUstream_st nullStream;
  std::set<CUevent_st*> events;
  std::unordered_map<void*, size_t> deviceBlocks;
  std::map<void*, size_t> pinned;  // cudaMallocHost blocks by address
  size_t used = 0, cap = 0;
  std::atomic<uint64_t> launches{0};
  int device = 0;
  std::thread executor;

  Runtime() {
    const char* env = std::getenv("CSKD_EMU_MEMORY_BYTES");
    cap = env && *env ? size_t(std::strtoull(env, nullptr, 10)) : size_t(4) << 30;
    streams.push_back(&nullStream);
    executor = std::thread([this] { run(); });
    executor.detach();  // lives as long as the process
  }

  // The head of a stream can run when it is work or a record, or a wait whose
  // event has completed far enough.
  bool ready(CUstream_st* s) const {
    if (s->busy || s->queue.empty()) return false;
    const Task& t = s->queue.front();
    return t.kind != Task::Wait || t.event->completed >= t.target;
  }

  void run() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      CUstream_st* s = nullptr;
      cv.wait(lock, [&] {
        for (auto* c : streams)
          if (ready(c)) return s = c, true;
        return false;
      });
      s->busy = true;
      if (s->queue.front().kind == Task::Host) {
        // A host function holds back only its own stream, as on a GPU: it
        // runs on a thread of its own while the executor serves the others.
        std::function<void()> fn = std::move(s->queue.front().work);
        std::thread([this, s, fn = std::move(fn)] {
          fn();
          std::lock_guard<std::mutex> g(mu);
          s->queue.pop_front();
          s->busy = false;
          cv.notify_all();
        }).detach();
        continue;
      }
      Task t = std::move(s->queue.front());
      lock.unlock();
      if (t.kind == Task::Work) t.work();
      lock.lock();
      if (t.kind == Task::Record) {
        t.event->completed = std::max(t.event->completed, t.target);
        t.event->ms = nowMs();
      }
      s->queue.pop_front();
      s->busy = false;
      cv.notify_all();
    }
  }

  static bool idle(const CUstream_st* s) { return s->queue.empty() && !s->busy; }

  void waitIdle(std::unique_lock<std::mutex>& lock, CUstream_st* s) {
    cv.wait(lock, [&] { return idle(s); });
  }
  void waitAll(std::unique_lock<std::mutex>& lock) {
    cv.wait(lock, [&] {
      return std::all_of(streams.begin(), streams.end(), [](auto* s) { return idle(s); });
    });
  }

  CUstream_st* stream(cudaStream_t s) { return s ? s : &nullStream; }

  void push(std::unique_lock<std::mutex>& lock, cudaStream_t s, Task t) {
    // Legacy default stream semantics: null-stream work starts after all
    // earlier work of every stream.
    if (!s)
      for (auto* other : streams)
        if (other != &nullStream) waitIdle(lock, other);
    stream(s)->queue.push_back(std::move(t));
    cv.notify_all();
  }

  bool isPinned(const void* p) const {
    auto it = pinned.upper_bound(const_cast<void*>(p));
    if (it == pinned.begin()) return false;
    --it;
    return static_cast<const char*>(p) < static_cast<const char*>(it->first) + it->second;
  }
};

Runtime& rt() {
  static Runtime* r = new Runtime();  // never destroyed: the executor outlives statics
  return *r;
}

thread_local cudaError_t lastError = cudaSuccess;

cudaError_t fail(cudaError_t e) { return lastError = e; }

}  // namespace

namespace emu {

uint64_t kernelLaunches() { return rt().launches.load(); }

void enqueue(cudaStream_t stream, std::function<void()> work) {
  Runtime& r = rt();
  r.launches.fetch_add(1);
  std::unique_lock<std::mutex> lock(r.mu);
  r.push(lock, stream, Task{Task::Work, std::move(work)});
}

}  // namespace emu

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady:
      return "cudaErrorNotReady";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "no error";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorNotReady:
      return "device not ready";
    default:
      return "emulated error";
  }
}
cudaError_t cudaGetLastError() {
  cudaError_t e = lastError;
  lastError = cudaSuccess;
  return e;
}
cudaError_t cudaGetDevice(int* d) { return *d = rt().device, cudaSuccess; }
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }
cudaError_t cudaGetDeviceCount(int* n) { return *n = 1, cudaSuccess; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  std::strcpy(p->name, "CPU emulation");
  p->major = 8, p->minor = 0, p->totalGlobalMem = rt().cap, p->multiProcessorCount = 2;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr attr, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock:
      return *v = 1024, cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlock:
      return *v = 48 << 10, cudaSuccess;
    case cudaDevAttrWarpSize:
      return *v = 32, cudaSuccess;
    case cudaDevAttrMultiProcessorCount:
      return *v = 2, cudaSuccess;  // small grids
    case cudaDevAttrComputeCapabilityMajor:
      return *v = 8, cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor:
      return *v = 0, cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
      return *v = 163 << 10, cudaSuccess;
  }
  return fail(cudaErrorInvalidValue);
}

cudaError_t cudaMalloc(void** p, size_t n) {
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  const size_t size = (n + 255) / 256 * 256;
  if (r.used + size > r.cap) return *p = nullptr, fail(cudaErrorMemoryAllocation);
  *p = std::aligned_alloc(256, std::max<size_t>(size, 256));
  if (!*p) return fail(cudaErrorMemoryAllocation);
  r.deviceBlocks[*p] = size;
  r.used += size;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  Runtime& r = rt();
  std::unique_lock<std::mutex> lock(r.mu);
  r.waitAll(lock);  // cudaFree synchronises the device
  auto it = r.deviceBlocks.find(p);
  if (it == r.deviceBlocks.end()) return fail(cudaErrorInvalidValue);
  r.used -= it->second;
  r.deviceBlocks.erase(it);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, size_t n) {
  Runtime& r = rt();
  *p = std::aligned_alloc(256, std::max<size_t>((n + 255) / 256 * 256, 256));
  if (!*p) return fail(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> lock(r.mu);
  r.pinned[*p] = n;
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* p) {
  if (!p) return cudaSuccess;
  Runtime& r = rt();
  std::unique_lock<std::mutex> lock(r.mu);
  r.waitAll(lock);
  r.pinned.erase(p);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  *total = r.cap;
  *free = r.cap - r.used;
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind k,
                            cudaStream_t stream) {
  Runtime& r = rt();
  std::unique_lock<std::mutex> lock(r.mu);
  const bool hostSrc = k == cudaMemcpyHostToDevice || k == cudaMemcpyHostToHost;
  const bool hostDst = k == cudaMemcpyDeviceToHost || k == cudaMemcpyHostToHost;
  if (hostSrc && !r.isPinned(s)) {
    // Pageable source: the runtime stages it before returning, so the caller
    // may reuse its buffer at once; the device copy still runs in order.
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(s),
                                                      static_cast<const char*>(s) + n);
    r.push(lock, stream,
           Task{Task::Work, [d, staged] { std::memcpy(d, staged->data(), staged->size()); }});
    return cudaSuccess;
  }
  r.push(lock, stream, Task{Task::Work, [d, s, n] { std::memmove(d, s, n); }});
  // Pageable destination: the call returns only when the data is there.
  if (hostDst && !r.isPinned(d)) r.waitIdle(lock, r.stream(stream));
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind k) {
  cudaMemcpyAsync(d, s, n, k, nullptr);
  Runtime& r = rt();
  std::unique_lock<std::mutex> lock(r.mu);
  r.waitAll(lock);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t stream) {
  Runtime& r = rt();
  std::unique_lock<std::mutex> lock(r.mu);
  r.push(lock, stream, Task{Task::Work, [p, v, n] { std::memset(p, v, n); }});
  return cudaSuccess;
}
cudaError_t cudaMemset(void* p, int v, size_t n) {
  cudaMemsetAsync(p, v, n, nullptr);
  Runtime& r = rt();
  std::unique_lock<std::mutex> lock(r.mu);
  r.waitAll(lock);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  *s = new CUstream_st();
  r.streams.push_back(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  Runtime& r = rt();
  std::unique_lock<std::mutex> lock(r.mu);
  auto it = std::find(r.streams.begin(), r.streams.end(), s);
  if (!s || it == r.streams.end()) return fail(cudaErrorInvalidResourceHandle);
  r.waitIdle(lock, s);  // as on a GPU, queued work still completes
  r.streams.erase(std::find(r.streams.begin(), r.streams.end(), s));
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  Runtime& r = rt();
  std::unique_lock<std::mutex> lock(r.mu);
  r.waitIdle(lock, r.stream(s));
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t s) {
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  return Runtime::idle(r.stream(s)) ? cudaSuccess : cudaErrorNotReady;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned) {
  Runtime& r = rt();
  std::unique_lock<std::mutex> lock(r.mu);
  if (!r.events.count(e)) return fail(cudaErrorInvalidResourceHandle);
  if (e->recorded == 0) return cudaSuccess;  // never recorded: nothing to wait for
  r.push(lock, s, Task{Task::Wait, {}, e, e->recorded});
  return cudaSuccess;
}
cudaError_t cudaLaunchHostFunc(cudaStream_t s, cudaHostFn_t fn, void* userData) {
  Runtime& r = rt();
  std::unique_lock<std::mutex> lock(r.mu);
  r.push(lock, s, Task{Task::Host, [fn, userData] { fn(userData); }});
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  Runtime& r = rt();
  std::unique_lock<std::mutex> lock(r.mu);
  r.waitAll(lock);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* e) {
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  *e = new CUevent_st();
  r.events.insert(*e);
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  Runtime& r = rt();
  std::unique_lock<std::mutex> lock(r.mu);
  if (!r.events.count(e)) return fail(cudaErrorInvalidResourceHandle);
  // Destroying an event with a pending record is legal on a GPU; here the
  // record task still points at it, so wait for it first.
  r.cv.wait(lock, [&] { return e->completed >= e->recorded; });
  r.events.erase(e);
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  Runtime& r = rt();
  std::unique_lock<std::mutex> lock(r.mu);
  if (!r.events.count(e)) return fail(cudaErrorInvalidResourceHandle);
  const uint64_t target = ++e->recorded;
  r.push(lock, s, Task{Task::Record, {}, e, target});
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  Runtime& r = rt();
  std::unique_lock<std::mutex> lock(r.mu);
  r.cv.wait(lock, [&] { return e->completed >= e->recorded; });
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t e) {
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  return e->completed >= e->recorded ? cudaSuccess : cudaErrorNotReady;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  if (a->completed < a->recorded || b->completed < b->recorded) return cudaErrorNotReady;
  *ms = float(b->ms - a->ms);
  return cudaSuccess;
}
