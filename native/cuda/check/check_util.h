// Helpers of the GPU check-and-time program: device buffers, random inputs,
// poisoning, the error measure and event timing.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cuda/common.h"

namespace cskd::check {

// A device copy of a host vector; owns its memory.
struct DeviceBuffer {
  float* ptr = nullptr;
  size_t n = 0;
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) : n(count) {
    CUDA_CHECK(cudaMalloc(&ptr, sizeof(float) * (n ? n : 1)));
  }
  explicit DeviceBuffer(const std::vector<float>& h) : DeviceBuffer(h.size()) { upload(h); }
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr(o.ptr), n(o.n) { o.ptr = nullptr; }
  DeviceBuffer(const DeviceBuffer&) = delete;
  void upload(const std::vector<float>& h) {
    CUDA_CHECK(cudaMemcpy(ptr, h.data(), sizeof(float) * h.size(), cudaMemcpyHostToDevice));
  }
  std::vector<float> download() const {
    std::vector<float> h(n);
    CUDA_CHECK(cudaMemcpy(h.data(), ptr, sizeof(float) * n, cudaMemcpyDeviceToHost));
    return h;
  }
  // Every byte 0xFF: a NaN in every float, so unwritten outputs cannot pass.
  void poison() { CUDA_CHECK(cudaMemset(ptr, 0xFF, sizeof(float) * n)); }
};

std::mt19937_64& rng();
std::vector<float> randn(size_t n, float scale = 1.f);
std::vector<float> uniform(size_t n, float lo, float hi);
// Rows of K positive values summing to 1.
std::vector<float> randomDistributions(int64_t rows, int64_t K);

// ||out - ref|| / ||ref|| in float64; infinity if out holds a NaN or Inf.
double relativeError(const std::vector<float>& out, const std::vector<float>& ref);

// Median milliseconds of `fn` over reps launches, timed with CUDA events
// around each launch after `warmup` untimed ones.
double medianMs(const std::function<void()>& fn, int warmup = 3, int reps = 25);

struct Result {
  std::string kernel, shape;
  double error = 0, budget = 0;
  bool pass = true;
  double ms = -1;      // < 0: not timed
  double gbps = -1;    // achieved bandwidth, if counted
  double tflops = -1;  // achieved rate, if counted
  std::string note;
};

std::vector<Result>& results();
// Records one comparison; prints a line; returns whether it passed.
bool expectClose(const std::string& kernel, const std::string& shape, const std::vector<float>& out,
                 const std::vector<float>& ref, double budget);
// Records one timing; bytes and flops may be 0 when not meaningful.
void recordTiming(const std::string& kernel, const std::string& shape, double ms, double bytes,
                  double flops, const std::string& note = "");

}  // namespace cskd::check
