// Optimizer kernels over flat parameter buffers.
//
// All parameters of a model live in one flat buffer (and their gradients, and
// AdamW's two moments, in three more), so one call updates every tensor. The
// buffer is cut into segments, each with its own learning rate (layer-wise lr
// decay) and weight decay (0 for biases, norms, tokens: the no-decay mask).
#pragma once
#include <cstdint>

namespace cskd::cpu {

struct AdamWParams {
  float* param = nullptr;
  const float* grad = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  int64_t numSegments = 0;
  const int64_t* segStart = nullptr;  // element offsets, ascending
  const int64_t* segLength = nullptr;
  const float* segLr = nullptr;           // learning rate of each segment
  const float* segWeightDecay = nullptr;  // decoupled decay of each segment
  // Doubles, as PyTorch keeps them: 1 - beta2 rounded from float(0.999) would be
  // off by 1.3e-5 relative.
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  int64_t step = 1;        // 1-based, for bias correction
  float gradScale = 1.0f;  // applied to grad first (clipping, micro-batch mean)
};
// p -= lr * (mhat / (sqrt(vhat) + eps) + wd * p), PyTorch's AdamW order:
// decay first (p *= 1 - lr*wd), then the Adam step.
void adamwStep(const AdamWParams& p);

// sum of squares of x (float64 accumulation), for global gradient-norm clipping.
double sumOfSquares(const float* x, int64_t n);

// ema = decay * ema + (1 - decay) * param
void emaUpdate(float* ema, const float* param, int64_t n, float decay);

}  // namespace cskd::cpu
