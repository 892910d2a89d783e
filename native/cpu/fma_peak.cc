// FMA ceiling: each thread runs independent FMA chains (enough to cover the
// latency on two FMA ports) in the widest registers the CPU has: 16 zmm chains,
// or 12 ymm chains (AVX2 has 16 registers; 16 chains plus the two constants
// spill and measured half the true peak).
#include "cpu/fma_peak.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/parallel.h"

namespace cskd::cpu {
namespace {

constexpr int kChains = 16;     // of 32 zmm registers
constexpr int kChains256 = 12;  // of 16 ymm registers

__attribute__((target("avx512f"))) float loopAvx512(int64_t iters) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  // Summed through memory: GCC 12's _mm512_reduce_add_ps warns from inside its own header.
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  float sum = 0;
  for (float x : lanes) sum += x;
  return sum;
}

__attribute__((target("avx2,fma"))) float loopAvx2(int64_t iters) {
  __m256 acc[kChains256];
  for (int i = 0; i < kChains256; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < kChains256; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  alignas(32) float out[8];
  __m256 s = acc[0];
  for (int i = 1; i < kChains256; ++i) s = _mm256_add_ps(s, acc[i]);
  _mm256_store_ps(out, s);
  return out[0];
}

}  // namespace

double measureFmaPeak(double seconds, int threads) {
  const CpuFeatures& f = cpuFeatures();
  const bool wide = f.avx512f;
  if (!wide && !(f.avx2 && f.fma)) return 0.0;
  const int lanes = wide ? 16 : 8, chains = wide ? kChains : kChains256;
  if (threads <= 0) threads = numThreads();
  // Calibrate the iteration count on one thread, then run all threads together.
  int64_t iters = 1 << 16;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    volatile float sink = wide ? loopAvx512(iters) : loopAvx2(iters);
    (void)sink;
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dt > seconds / 4 || iters > (int64_t(1) << 40)) {
      iters = static_cast<int64_t>(iters * seconds / std::max(dt, 1e-9));
      break;
    }
    iters *= 4;
  }
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  std::vector<double> elapsed(threads);
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      auto t0 = std::chrono::steady_clock::now();
      volatile float sink = wide ? loopAvx512(iters) : loopAvx2(iters);
      (void)sink;
      elapsed[t] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });
  go = true;
  for (auto& th : pool) th.join();
  const double slowest = *std::max_element(elapsed.begin(), elapsed.end());
  const double flops = 2.0 * lanes * chains * static_cast<double>(iters) * threads;
  return flops / slowest / 1e9;
}

}  // namespace cskd::cpu
