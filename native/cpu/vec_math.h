// Float math written so the compiler vectorises it: no libm calls, no branches,
// only arithmetic and bit casts. Accuracy (checked against float64 on a dense
// grid): exp within 1.1e-9 relative before float rounding, erf within 6.5e-8
// absolute, so both are at float32 rounding.
//
// CSKD_SIMD_CLONES compiles a function for AVX-512, AVX2 and baseline x86-64;
// the loader picks the best for the CPU at start-up (GCC target_clones, ifunc).
// Reductions in such loops need `#pragma omp simd reduction(...)` (the library
// is built with -fopenmp-simd, which needs no OpenMP runtime).
#pragma once
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__)
#define CSKD_SIMD_CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#else
#define CSKD_SIMD_CLONES
#endif

namespace cskd::cpu {

// __builtin_bit_cast rather than memcpy: the vectoriser sees through it.
inline float bitsToFloat(int32_t i) { return __builtin_bit_cast(float, i); }

// exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2 split in two parts
// (Cody-Waite), exp(r) by the Cephes expf polynomial. Inputs are clamped so 2^n
// stays a normal float: exp of very negative x is ~1e-38 rather than 0.
inline float vexp(float x) {
  // Two plain selects so the loop stays vectorisable, written so that a NaN
  // fails both comparisons and passes through (a NaN must never become a
  // finite number: the trainer stops on non-finite losses).
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  const float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  return y * bitsToFloat((static_cast<int32_t>(n) + 127) << 23);
}

// erf as a rational function of x on [-4, 4] (odd numerator, even denominator);
// outside that range erf is +-1 in float.
inline float verf(float x) {
  x = x < -4.0f ? -4.0f : x;  // NaN passes through, as in vexp
  x = x > 4.0f ? 4.0f : x;
  const float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 - 2.10102402082508e-06f;
  p = p * x2 - 5.69250639462346e-05f;
  p = p * x2 - 7.34990630326855e-04f;
  p = p * x2 - 2.95459980854025e-03f;
  p = p * x2 - 1.60960333262415e-02f;
  float q = -1.45660718464996e-05f;
  q = q * x2 - 2.13374055278905e-04f;
  q = q * x2 - 1.68282697438203e-03f;
  q = q * x2 - 7.37332916720468e-03f;
  q = q * x2 - 1.42647390514189e-02f;
  return x * p / q;
}

inline float vtanh(float x) { return 1.0f - 2.0f / (vexp(2.0f * x) + 1.0f); }

inline float vsigmoid(float x) { return 1.0f / (1.0f + vexp(-x)); }

}  // namespace cskd::cpu
