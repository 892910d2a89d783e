// Per-head attention statistics (mean attention distance, attention entropy)
// on the GPU; the contract of cpu/attention_stats.h, with AttentionStatsParams
// shared and every tensor pointer a device pointer. Head dims up to 128.
#pragma once
#include <cuda_runtime.h>

#include "cpu/attention_stats.h"

namespace cskd::cuda {

using cpu::AttentionStatsParams;

void attentionStats(const AttentionStatsParams& p, cudaStream_t stream);

}  // namespace cskd::cuda
