// Multi-head scaled dot-product attention, non-causal, forward and backward.
//
// Element (b, h, n, d) of q, k and v lives at base + b*sB + h*sH + n*sN + d, so
// the same kernel reads [B,H,N,D] tensors and the packed qkv output of a Linear
// layer ([B,N,3,H,D]: sN = 3*H*D, sH = D, with q/k/v offset by 0/H*D/2*H*D)
// without a permute. out/dout use their own strides (a ViT writes [B,N,H*D]).
// dq/dk/dv share q/k/v's strides, so the backward can fill a packed dqkv.
// lse is [B,H,N] contiguous: the natural-log log-sum-exp of each scaled score
// row, saved by the forward and used by the backward to rebuild probabilities.
#pragma once
#include <cstdint>

namespace cskd::cpu {

struct AttentionParams {
  int64_t B = 0, H = 0, N = 0, D = 0;
  float scale = 1.0f;
  const float *q = nullptr, *k = nullptr, *v = nullptr;
  int64_t qkv_sB = 0, qkv_sH = 0, qkv_sN = 0;
  float* out = nullptr;                               // forward output
  const float* dout = nullptr;                        // backward input
  int64_t o_sB = 0, o_sH = 0, o_sN = 0;               // strides of out and dout
  float* lse = nullptr;                               // [B,H,N]
  float *dq = nullptr, *dk = nullptr, *dv = nullptr;  // backward outputs (overwritten)
};

void attentionForward(const AttentionParams& p);
// Needs q, k, v, out, dout, lse; writes dq, dk, dv.
void attentionBackward(const AttentionParams& p);

}  // namespace cskd::cpu
