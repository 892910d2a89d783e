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

void attentionForward(const AttentionParams& p, cudaStream_t stream);
// Needs q, k, v, out, dout, lse; writes dq, dk, dv.
void attentionBackward(const AttentionParams& p, cudaStream_t stream);

// Largest head dimension the kernels take.
constexpr int kAttentionMaxHeadDim = 128;

}  // namespace cskd::cuda
