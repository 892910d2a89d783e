// A small fork-join pool. Work is split into chunks that workers claim from an
// atomic counter, so uneven chunks balance themselves, and the caller works
// too. Workers spin for a short while after a job (back-to-back kernels in a
// training step then cost no wake-up) and sleep on a condition variable after
// that. The caller waits only for workers that actually joined its job, so a
// sleeping or descheduled worker never delays a small kernel.
#include "cpu/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace cskd {
namespace {

class ThreadPool {
 public:
  explicit ThreadPool(int n) { resize(n); }
  ~ThreadPool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int n) {
    std::lock_guard<std::mutex> run(runMutex_);
    stop();
    stopping_ = false;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this] { workerLoop(); });
  }

  // Returns false if the pool is busy with another caller's job.
  bool run(int64_t chunks, const std::function<void(int64_t)>& body) {
    std::unique_lock<std::mutex> run(runMutex_, std::try_to_lock);
    if (!run.owns_lock()) return false;
    const uint64_t gen = (state_.load() >> 32) + 1;
    body_ = &body;
    numChunks_ = chunks;
    next_.store(0);
    state_.store(gen << 32);  // new job, open, nobody in it yet
    {
      std::lock_guard<std::mutex> lk(mutex_);
      generation_.store(gen);
    }
    cv_.notify_all();
    work();
    // Close the job to latecomers, then wait only for workers that joined it:
    // a worker still asleep (or descheduled on a busy machine) costs nothing.
    const uint64_t s = state_.fetch_or(kClosed);
    if ((s & kCountMask) != 0) {
      while ((state_.load(std::memory_order_acquire) & kCountMask) != 0) std::this_thread::yield();
    }
    body_ = nullptr;
    return true;
  }

 private:
  static constexpr uint64_t kClosed = uint64_t(1) << 31;
  static constexpr uint64_t kCountMask = kClosed - 1;

  void work() {
    for (;;) {
      int64_t c = next_.fetch_add(1);
      if (c >= numChunks_) break;
      (*body_)(c);
    }
  }

  // Joins job `gen` if it is still open; the caller then waits for us.
  bool join(uint64_t gen) {
    uint64_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      if ((s >> 32) != gen || (s & kClosed)) return false;
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) return true;
    }
  }

  void workerLoop() {
    uint64_t seen = 0;
    for (;;) {
      // Spin a little first: kernels of a training step come back to back.
      bool got = false;
      for (int i = 0; i < 20000 && !got; ++i) {
        if (generation_.load(std::memory_order_acquire) != seen || stopping_.load()) got = true;
      }
      if (!got) {
        std::unique_lock<std::mutex> lk(mutex_);
        cv_.wait(lk, [&] { return generation_.load() != seen || stopping_.load(); });
      }
      if (stopping_.load()) return;
      seen = generation_.load(std::memory_order_acquire);
      if (!join(seen)) continue;
      work();
      state_.fetch_sub(1, std::memory_order_release);
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex runMutex_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  // (job generation << 32) | closed bit | workers in the job
  std::atomic<uint64_t> state_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> next_{0};
  int64_t numChunks_ = 0;
  const std::function<void(int64_t)>* body_ = nullptr;
};

int defaultThreads() {
  if (const char* env = std::getenv("CSKD_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

ThreadPool& pool() {
  static ThreadPool* p = new ThreadPool(defaultThreads());  // never destroyed: no exit-time join
  return *p;
}

}  // namespace

int numThreads() { return pool().size(); }

void setNumThreads(int n) { pool().resize(std::max(1, n)); }

void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  ThreadPool& p = pool();
  int threads = p.size();
  // A few chunks per thread so uneven work evens out.
  int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, static_cast<int64_t>(threads) * 4);
  if (threads == 1 || chunks <= 1) {
    fn(0, n);
    return;
  }
  int64_t per = (n + chunks - 1) / chunks;
  chunks = (n + per - 1) / per;
  std::function<void(int64_t)> body = [&](int64_t c) {
    int64_t b = c * per;
    fn(b, std::min(n, b + per));
  };
  if (!p.run(chunks, body)) fn(0, n);
}

}  // namespace cskd
