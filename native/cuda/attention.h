// Multi-head scaled dot-product attention on the GPU, forward and backward.
// Same contract as cpu/attention.h (AttentionParams is shared; every pointer a
// device pointer): strided q/k/v (a packed qkv buffer works as is), strided
// out/dout, lse [B,H,N] in natural log saved by the forward, dq/dk/dv
// overwritten with q/k/v's strides. Head dims up to 128 (32, 64, 128 are the
// tuned ones); any N.
#pragma once
#include <cuda_runtime.h>

#include "cpu/attention.h"

namespace cskd::cuda {

using cpu::AttentionParams;

// Fp32: float32 arithmetic on CUDA cores (attention.cu), errors ~1e-6.
// Bf16: tensor cores, q/k/v/dout rounded to bf16, float32 accumulation and
// softmax (attention_bf16.cu), errors ~1e-3; the fast path for training.
enum class AttentionPrecision : int { Fp32 = 0, Bf16 = 1 };

void attentionForward(const AttentionParams& p, cudaStream_t stream,
                      AttentionPrecision precision = AttentionPrecision::Fp32);
// Needs q, k, v, out, dout, lse; writes dq, dk, dv.
void attentionBackward(const AttentionParams& p, cudaStream_t stream,
                       AttentionPrecision precision = AttentionPrecision::Fp32);

// Largest head dimension the kernels take.
constexpr int kAttentionMaxHeadDim = 128;

}  // namespace cskd::cuda
