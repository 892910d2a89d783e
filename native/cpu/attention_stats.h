// Per-head attention statistics for the analysis (docs/design.md): over the patch
// tokens only (the first `prefix` tokens, e.g. CLS, excluded), with A the
// softmax over all tokens restricted to patch rows and columns, not
// renormalised:
//   distance[b,h] = mean_i sum_j A_ij * patchPx * ||grid(i) - grid(j)||_2
//   entropy[b,h]  = mean_i ( - sum_j A_ij ln A_ij )
// Patches are row-major on a gridH x gridW grid. q and k use the attention
// strides; the N x N map never leaves the kernel.
#pragma once
#include <cstdint>

#include "cpu/attention.h"

namespace cskd::cpu {

struct AttentionStatsParams {
  AttentionParams attn;  // B, H, N, D, scale, q, k and their strides
  int64_t prefix = 1;
  int64_t gridH = 0, gridW = 0;
  float patchPx = 16.0f;
  float* distance = nullptr;  // [B,H]
  float* entropy = nullptr;   // [B,H]
};

void attentionStats(const AttentionStatsParams& p);

}  // namespace cskd::cpu
