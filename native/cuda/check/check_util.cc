#include "cuda/check/check_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cskd::check {

std::mt19937_64& rng() {
  static std::mt19937_64 g(20261123);
  return g;
}

std::vector<float> randn(size_t n, float scale) {
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng());
  return v;
}

std::vector<float> uniform(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng());
  return v;
}

std::vector<float> randomDistributions(int64_t rows, int64_t K) {
  std::vector<float> v = uniform(size_t(rows * K), 0.01f, 1.f);
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t k = 0; k < K; ++k) s += v[r * K + k];
    for (int64_t k = 0; k < K; ++k) v[r * K + k] = float(v[r * K + k] / s);
  }
  return v;
}

double relativeError(const std::vector<float>& out, const std::vector<float>& ref) {
  if (out.size() != ref.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) return INFINITY;
    const double d = double(out[i]) - double(ref[i]);
    num += d * d;
    den += double(ref[i]) * double(ref[i]);
  }
  if (den == 0) return std::sqrt(num);
  return std::sqrt(num / den);
}

double medianMs(const std::function<void()>& fn, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) fn();
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<cudaEvent_t> ev(2 * reps);
  for (auto& e : ev) CUDA_CHECK(cudaEventCreate(&e));
  for (int i = 0; i < reps; ++i) {
    CUDA_CHECK(cudaEventRecord(ev[2 * i]));
    fn();
    CUDA_CHECK(cudaEventRecord(ev[2 * i + 1]));
  }
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> ms(reps);
  for (int i = 0; i < reps; ++i) CUDA_CHECK(cudaEventElapsedTime(&ms[i], ev[2 * i], ev[2 * i + 1]));
  for (auto& e : ev) cudaEventDestroy(e);
  std::sort(ms.begin(), ms.end());
  return ms[reps / 2];
}

std::vector<Result>& results() {
  static std::vector<Result> r;
  return r;
}

bool expectClose(const std::string& kernel, const std::string& shape, const std::vector<float>& out,
                 const std::vector<float>& ref, double budget) {
  Result r;
  r.kernel = kernel;
  r.shape = shape;
  r.error = relativeError(out, ref);
  r.budget = budget;
  r.pass = r.error <= budget;
  std::printf("%-6s %-28s %-34s rel.err %.2e (budget %.0e)\n", r.pass ? "ok" : "FAIL",
              kernel.c_str(), shape.c_str(), r.error, budget);
  std::fflush(stdout);
  results().push_back(r);
  return r.pass;
}

void recordTiming(const std::string& kernel, const std::string& shape, double ms, double bytes,
                  double flops, const std::string& note) {
  Result r;
  r.kernel = kernel;
  r.shape = shape;
  r.ms = ms;
  r.error = -1;
  if (bytes > 0) r.gbps = bytes / (ms * 1e-3) / 1e9;
  if (flops > 0) r.tflops = flops / (ms * 1e-3) / 1e12;
  r.note = note;
  std::printf("time   %-28s %-34s %9.4f ms", kernel.c_str(), shape.c_str(), ms);
  if (r.gbps > 0) std::printf("  %8.1f GB/s", r.gbps);
  if (r.tflops > 0) std::printf("  %7.2f TFLOP/s", r.tflops);
  std::printf("%s%s\n", note.empty() ? "" : "  ", note.c_str());
  std::fflush(stdout);
  results().push_back(r);
}

}  // namespace cskd::check
