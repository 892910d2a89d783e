// The three CSKD losses on the GPU. Same parameter structs and formulas as
// cpu/losses.h, with every pointer a device pointer; the batch loss goes to the
// device scalar `loss` (float) instead of being returned, so a training step
// never waits on the host. The gradient (when its pointer is set) is written in
// the same launch as the per-row losses.
#pragma once
#include <cuda_runtime.h>

#include "cpu/losses.h"

namespace cskd::cuda {

using cpu::AlignKind;
using cpu::AlignLossParams;
using cpu::DistillKind;
using cpu::DistillLossParams;
using cpu::EmdLossParams;

void alignLoss(const AlignLossParams& p, float* loss, cudaStream_t stream);
void emdLoss(const EmdLossParams& p, float* loss, cudaStream_t stream);
void distillLoss(const DistillLossParams& p, float* loss, cudaStream_t stream);

}  // namespace cskd::cuda
