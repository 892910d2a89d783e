// The three losses of CSKD, each returning the batch loss and writing its
// gradient in the same pass (scaled by gradScale, e.g. 1 / micro-batches).
// Reductions are batch means: loss = (1/B) sum_i w_i l_i with w_i = 1 when
// weights is null.
#pragma once
#include <cstdint>

namespace cskd::cpu {

// Phase-1 alignment of student features s [B, D] to CLIP features t [B, D]:
//   Cosine    l_i = 1 - cos(s_i, t_i)
//   Mse       l_i = mean_d (a_id - b_id)^2
//   SmoothL1  l_i = mean_d huber_beta(a_id - b_id), 0.5 x^2 / beta below beta
// where a, b are s, t, or their L2-normalised rows when normalize is set
// (cosine normalises by definition). Gradient with respect to s.
enum class AlignKind : int { Cosine = 0, Mse = 1, SmoothL1 = 2 };
struct AlignLossParams {
  const float* student = nullptr;
  const float* target = nullptr;
  const float* weights = nullptr;  // [B] or null
  int64_t B = 0, D = 0;
  AlignKind kind = AlignKind::Cosine;
  bool normalize = true;
  float beta = 1.0f;  // smooth-L1 threshold
  float eps = 1e-8f;  // floor of the row norms
  float gradScale = 1.0f;
  float* gradStudent = nullptr;  // [B, D] or null (loss only)
};
double alignLoss(const AlignLossParams& p);

// EMD between predicted and target distributions over K ordered bins (NIMA):
//   l_i = ( (1/K) sum_k |P_ik - Q_ik|^r + eps )^(1/r), P, Q the CDFs;
//   with squared, l_i = (1/K) sum_k |P_ik - Q_ik|^r (no root, no eps).
// Gradient with respect to the predicted probabilities.
struct EmdLossParams {
  const float* pred = nullptr;     // [B, K] probabilities
  const float* target = nullptr;   // [B, K] probabilities
  const float* weights = nullptr;  // [B] or null
  int64_t B = 0, K = 0;
  float r = 2.0f;
  bool squared = false;
  float eps = 1e-12f;
  float gradScale = 1.0f;
  float* gradPred = nullptr;  // [B, K] or null
};
double emdLoss(const EmdLossParams& p);

// The score head's loss in one pass: p = softmax(logits) per row, then
// emdLoss(p, target) as above, with the gradient taken through the softmax to
// the logits (gradPred receives dL/dlogits). Three separate
// passes (softmax, EMD, softmax backward) cost three times the memory traffic
// and leave the exponentials of K-wide rows unvectorised; here they run as one
// flat vector loop per block of rows. `pred` is ignored; `probs`, when not
// null, receives the probabilities.
double emdLossFromLogits(const EmdLossParams& p, const float* logits, float* probs);

// Distillation with temperature T between logits [B, K]:
//   p = softmax(teacher / T), q = softmax(student / T)
//   Kl            l_i = T^2 * sum_k p_k (ln p_k - ln q_k)
//   SoftCrossEntropy l_i = T^2 * (- sum_k p_k ln q_k)
// Both have the gradient T * (q - p) with respect to the student logits.
enum class DistillKind : int { Kl = 0, SoftCrossEntropy = 1 };
struct DistillLossParams {
  const float* student = nullptr;  // logits [B, K]
  const float* teacher = nullptr;  // logits [B, K]
  const float* weights = nullptr;  // [B] or null
  int64_t B = 0, K = 0;
  float temperature = 1.0f;
  DistillKind kind = DistillKind::Kl;
  float gradScale = 1.0f;
  float* gradStudent = nullptr;  // [B, K] or null
};
double distillLoss(const DistillLossParams& p);

}  // namespace cskd::cpu
