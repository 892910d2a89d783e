// CPU emulation of native/cuda/mma.cuh (ldmatrix.x4 and mma m16n8k16 bf16),
// following the fragment layouts of the PTX ISA: g = lane / 4, t = lane % 4;
// A regs a0..a3 = (row g, k 2t..), (row g+8, k 2t..), (row g, k 2t+8..),
// (row g+8, k 2t+8..); B regs b0, b1 = (k 2t.., col g), (k 2t+8.., col g);
// C c0..c3 = (row g, col 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1).
#pragma once
#include <cstdint>
#include <cstring>

#include "cuda_bf16.h"

namespace cskd::cuda {

inline float emuBf16(uint32_t reg, int half) {
  uint32_t u = (half ? (reg >> 16) : (reg & 0xffffu)) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline void ldmatrixX4(uint32_t (&r)[4], const void* smem) {
  auto& w = emu::warp();
  const int l = emu::lane();
  w.ptr[l] = smem;
  w.bar.arrive_and_wait();
  for (int j = 0; j < 4; ++j) {
    const uint16_t* row = static_cast<const uint16_t*>(w.ptr[j * 8 + l / 4]);
    r[j] = uint32_t(row[2 * (l % 4)]) | (uint32_t(row[2 * (l % 4) + 1]) << 16);
  }
  w.bar.arrive_and_wait();
}

inline void ldmatrixX4Trans(uint32_t (&r)[4], const void* smem) {
  auto& w = emu::warp();
  const int l = emu::lane();
  w.ptr[l] = smem;
  w.bar.arrive_and_wait();
  for (int j = 0; j < 4; ++j) {
    const uint16_t* r0 = static_cast<const uint16_t*>(w.ptr[j * 8 + 2 * (l % 4)]);
    const uint16_t* r1 = static_cast<const uint16_t*>(w.ptr[j * 8 + 2 * (l % 4) + 1]);
    r[j] = uint32_t(r0[l / 4]) | (uint32_t(r1[l / 4]) << 16);
  }
  w.bar.arrive_and_wait();
}

inline uint32_t packBf16(float lo, float hi) {
  return uint32_t(__float2bfloat16_rn(lo).x) | (uint32_t(__float2bfloat16_rn(hi).x) << 16);
}

inline void mmaBf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  auto& w = emu::warp();
  const int l = emu::lane();
  // Publish this lane's 6 registers; slot holds 8 bytes, so use two exchanges.
  static thread_local uint32_t mine[6];
  mine[0] = a[0], mine[1] = a[1], mine[2] = a[2], mine[3] = a[3], mine[4] = b0, mine[5] = b1;
  w.ptr[l] = mine;
  w.bar.arrive_and_wait();
  float A[16][16], B[16][8];
  for (int ln = 0; ln < 32; ++ln) {
    const uint32_t* m = static_cast<const uint32_t*>(w.ptr[ln]);
    const int g = ln / 4, t = ln % 4;
    for (int h = 0; h < 2; ++h) {
      A[g][2 * t + h] = emuBf16(m[0], h);
      A[g + 8][2 * t + h] = emuBf16(m[1], h);
      A[g][2 * t + 8 + h] = emuBf16(m[2], h);
      A[g + 8][2 * t + 8 + h] = emuBf16(m[3], h);
      B[2 * t + h][g] = emuBf16(m[4], h);
      B[2 * t + 8 + h][g] = emuBf16(m[5], h);
    }
  }
  w.bar.arrive_and_wait();
  const int g = l / 4, t = l % 4;
  for (int i = 0; i < 4; ++i) {
    const int row = g + (i / 2) * 8, col = 2 * t + (i % 2);
    float s = 0.f;
    for (int k = 0; k < 16; ++k) s += A[row][k] * B[k][col];
    c[i] += s;
  }
}

}  // namespace cskd::cuda
