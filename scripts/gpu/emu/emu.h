// A CUDA execution model on CPU threads, for checking the kernels on machines
// without a GPU. Every CUDA thread of a block is an OS thread; blocks run one
// after another on the runtime's one executor thread (so `__shared__` can be a
// function-local static), in stream order (runtime.cc); __syncthreads
// is a block-wide std::barrier; warp shuffles exchange through a per-warp slot
// array between two warp barriers. Threads that return early drop out of both
// barriers, as exited threads do on the GPU. Force-included before every source.
#pragma once
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "cuda_runtime.h"

#define __CUDACC__ 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__

namespace emu {

struct Warp {
  std::barrier<> bar;
  uint64_t slot[32];
  const void* ptr[32];
  explicit Warp(int n) : bar(n) {}
};

struct Block {
  std::barrier<> bar;
  std::vector<std::unique_ptr<Warp>> warps;
  std::vector<char> dyn;
  explicit Block(int n) : bar(n) {}
};

inline thread_local dim3 tIdx, bIdx, bDim, gDim;
inline thread_local Block* block = nullptr;
inline thread_local int linearTid = 0;

inline Warp& warp() { return *block->warps[linearTid / 32]; }
inline int lane() { return linearTid % 32; }

template <typename T>
T* dynamicShared() {
  return reinterpret_cast<T*>(block->dyn.data());
}

// Runs every block of a grid, one after another (called on the executor thread).
inline void runGrid(dim3 grid, dim3 threads, size_t shmem, const std::function<void()>& fn) {
  const int n = int(threads.x * threads.y * threads.z);
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        Block b(n);
        b.dyn.assign(shmem + 16, 0);
        for (int w = 0; w < n; w += 32) b.warps.emplace_back(new Warp(std::min(32, n - w)));
        std::vector<std::thread> pool;
        pool.reserve(n);
        for (int t = 0; t < n; ++t)
          pool.emplace_back([&, t] {
            block = &b;
            linearTid = t;
            tIdx = dim3(t % threads.x, (t / threads.x) % threads.y, t / (threads.x * threads.y));
            bIdx = dim3(bx, by, bz);
            bDim = threads;
            gDim = grid;
            fn();
            warp().bar.arrive_and_drop();
            b.bar.arrive_and_drop();
          });
        for (auto& th : pool) th.join();
      }
}

// k<<<grid, threads, shmem, stream>>>(args...): the arguments are evaluated and
// copied now, as a launch does, and the grid runs later, in stream order.
template <typename K, typename... A>
void launch(dim3 grid, dim3 threads, size_t shmem, cudaStream_t stream, K kernel, A... args) {
  enqueue(stream, [=] { runGrid(grid, threads, shmem, [&] { kernel(args...); }); });
}

}  // namespace emu

#define threadIdx (::emu::tIdx)
#define blockIdx (::emu::bIdx)
#define blockDim (::emu::bDim)
#define gridDim (::emu::gDim)

inline void __syncthreads() { emu::block->bar.arrive_and_wait(); }

template <typename T>
T __shfl_xor_sync(unsigned, T v, int o) {
  static_assert(sizeof(T) <= 8);
  auto& w = emu::warp();
  const int l = emu::lane();
  std::memcpy(&w.slot[l], &v, sizeof(T));
  w.bar.arrive_and_wait();
  T r;
  std::memcpy(&r, &w.slot[l ^ o], sizeof(T));
  w.bar.arrive_and_wait();
  return r;
}

inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }

template <typename T>
inline T min(T a, T b) {
  return a < b ? a : b;
}
template <typename T>
inline T max(T a, T b) {
  return a < b ? b : a;
}
