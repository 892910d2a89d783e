// Warp-level tensor-core primitives (sm_80 and later): ldmatrix and the
// m16n8k16 bf16 mma with float32 accumulation. Kept in one header so the
// fragment layouts live in one place (and so the CPU emulation used to check
// the kernels without a GPU, scripts/gpu/emulate_checks.py, can stand in for
// exactly these two functions).
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace cskd::cuda {

// Four 8x8 b16 matrices; lane i supplies the row address of row i % 8 of
// matrix i / 8, and receives in r[j] the pair (row lane / 4, cols 2 (lane % 4) + {0, 1})
// of matrix j.
__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], const void* smem) {
  uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// As ldmatrixX4, transposed: r[j] = (row 2 (lane % 4), col lane / 4) and
// (row 2 (lane % 4) + 1, col lane / 4) of matrix j. Turns a [k][n] tile in
// shared memory into the "col" B fragment.
__device__ __forceinline__ void ldmatrixX4Trans(uint32_t (&r)[4], const void* smem) {
  uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// Two floats as a bf16 pair, `lo` in the low half (the lower column index).
__device__ __forceinline__ uint32_t packBf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// c += a (16x16, row) * b (16x8, col), bf16 inputs, float32 accumulators.
__device__ __forceinline__ void mmaBf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                        uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

}  // namespace cskd::cuda
