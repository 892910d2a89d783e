// Alignment, EMD and distillation losses: value and gradient in one pass.
//
// Each row's kernel computes l_i and writes its gradient (scaled by w_i / B *
// gradScale) at once; the weighted row losses go to a scratch vector that one
// small block sums in float64 into the device scalar. Two launches, no
// atomics, deterministic.
//
// alignLoss runs a block per row (D is the CLIP width, 512..1024): pass 1 the
// norms and the dot product, pass 2 the loss and a.g (g = dl/da), pass 3 the
// gradient through the normalisation, ds = (g - a (a.g)) / max(|s|, eps), the
// same formula as the CPU kernel uses (also where the floor applies).
// emdLoss runs a thread per row (K = 10 bins, CDFs in float64): the CDF differences go into the
// gradient buffer first and are turned into the gradient by a reverse
// (suffix) sum, dl/dp_j = sum_{k >= j} dl/dP_k.
// distillLoss runs a warp per row with log-softmax for both sides.
#include "cuda/allocator.h"
#include "cuda/common.h"
#include "cuda/losses.h"

namespace cskd::cuda {
namespace {

// loss = (1/B) sum_i rowLoss[i]
__global__ void finishLoss(const float* rowLoss, int64_t B, float* loss) {
  __shared__ double scratch[32];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < B; i += blockDim.x) s += rowLoss[i];
  s = blockSum(s, scratch);
  if (threadIdx.x == 0) *loss = float(s / double(B));
}

__global__ void alignLossKernel(AlignLossParams p, float* rowLoss) {
  __shared__ float scratch[32];
  const int64_t i = blockIdx.x;
  const int64_t D = p.D;
  const float* s = p.student + i * D;
  const float* t = p.target + i * D;
  const bool norm = p.kind == AlignKind::Cosine || p.normalize;
  float ss = 0.f, tt = 0.f;
  if (norm) {
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
      ss += s[d] * s[d];
      tt += t[d] * t[d];
    }
    ss = blockSum(ss, scratch);
    tt = blockSum(tt, scratch);
  }
  const float sn = sqrtf(ss), tn = sqrtf(tt);
  const float ns = norm ? fmaxf(sn, p.eps) : 1.f;
  const float nt = norm ? fmaxf(tn, p.eps) : 1.f;
  const float ias = 1.f / ns, iat = 1.f / nt;
  const float invD = 1.f / float(D);
  // Pass 2: loss terms and a.g
  float lsum = 0.f, ag = 0.f;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    float a = s[d] * ias, b = t[d] * iat, g;
    if (p.kind == AlignKind::Cosine) {
      lsum -= a * b;
      g = -b;
    } else if (p.kind == AlignKind::Mse) {
      float e = a - b;
      lsum += e * e * invD;
      g = 2.f * e * invD;
    } else {
      float e = a - b, ae = fabsf(e);
      if (ae < p.beta) {
        lsum += 0.5f * e * e / p.beta * invD;
        g = e / p.beta * invD;
      } else {
        lsum += (ae - 0.5f * p.beta) * invD;
        g = (e > 0.f ? 1.f : -1.f) * invD;
      }
    }
    ag += a * g;
  }
  lsum = blockSum(lsum, scratch);
  ag = blockSum(ag, scratch);
  const float w = p.weights ? p.weights[i] : 1.f;
  const float l = p.kind == AlignKind::Cosine ? 1.f + lsum : lsum;
  if (threadIdx.x == 0) rowLoss[i] = w * l;
  if (!p.gradStudent) return;
  const float gs = w * p.gradScale / float(p.B);
  float* out = p.gradStudent + i * D;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    float a = s[d] * ias, b = t[d] * iat, g;
    if (p.kind == AlignKind::Cosine) {
      g = -b;
    } else if (p.kind == AlignKind::Mse) {
      g = 2.f * (a - b) * invD;
    } else {
      float e = a - b;
      g = (fabsf(e) < p.beta ? e / p.beta : (e > 0.f ? 1.f : -1.f)) * invD;
    }
    float ds = norm ? (g - a * ag) * ias : g;
    out[d] = gs * ds;
  }
}

__device__ __forceinline__ float absPow(float x, float r) {
  x = fabsf(x);
  return r == 2.f ? x * x : (r == 1.f ? x : powf(x, r));
}

__global__ void emdLossKernel(EmdLossParams p, float* rowLoss) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= p.B) return;
  const int64_t K = p.K;
  const float* pr = p.pred + i * K;
  const float* tg = p.target + i * K;
  float* gr = p.gradPred ? p.gradPred + i * K : nullptr;
  // The CDFs run in float64: the last bin's P - Q is ~0 and its sign (which the
  // r = 1 gradient depends on) should not be decided by float32 rounding.
  double P = 0.0, Q = 0.0;
  float S = 0.f;
  for (int64_t k = 0; k < K; ++k) {
    P += pr[k];
    Q += tg[k];
    float d = float(P - Q);
    S += absPow(d, p.r);
    if (gr) gr[k] = d;
  }
  S /= float(K);
  const float l = p.squared ? S : powf(S + p.eps, 1.f / p.r);
  const float w = p.weights ? p.weights[i] : 1.f;
  rowLoss[i] = w * l;
  if (!gr) return;
  // dl/dS, then dl/dP_k = dl/dS * r |d|^(r-1) sign(d) / K
  const float dS = p.squared ? 1.f : powf(S + p.eps, 1.f / p.r - 1.f) / p.r;
  const float c = w * p.gradScale / float(p.B) * dS * p.r / float(K);
  float suffix = 0.f;
  for (int64_t k = K - 1; k >= 0; --k) {
    float d = gr[k];
    float dP = p.r == 2.f ? d : (d == 0.f ? 0.f : copysignf(powf(fabsf(d), p.r - 1.f), d));
    suffix += c * dP;
    gr[k] = suffix;
  }
}

__global__ void distillLossKernel(DistillLossParams p, float* rowLoss) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (i >= p.B) return;
  const int64_t K = p.K;
  const float invT = 1.f / p.temperature;
  const float* s = p.student + i * K;
  const float* t = p.teacher + i * K;
  float ms = -INFINITY, mt = -INFINITY;
  for (int64_t k = lane; k < K; k += 32) {
    ms = fmaxf(ms, s[k] * invT);
    mt = fmaxf(mt, t[k] * invT);
  }
  ms = warpMax(ms);
  mt = warpMax(mt);
  float zs = 0.f, zt = 0.f;
  for (int64_t k = lane; k < K; k += 32) {
    zs += expf(s[k] * invT - ms);
    zt += expf(t[k] * invT - mt);
  }
  const float lzs = ms + logf(warpSum(zs)), lzt = mt + logf(warpSum(zt));
  float acc = 0.f;
  for (int64_t k = lane; k < K; k += 32) {
    float lq = s[k] * invT - lzs, lp = t[k] * invT - lzt;
    float pk = expf(lp);
    acc += p.kind == DistillKind::Kl ? pk * (lp - lq) : -pk * lq;
  }
  acc = warpSum(acc);
  const float T = p.temperature;
  const float w = p.weights ? p.weights[i] : 1.f;
  if (lane == 0) rowLoss[i] = w * T * T * acc;
  if (!p.gradStudent) return;
  const float c = w * p.gradScale / float(p.B) * T;
  for (int64_t k = lane; k < K; k += 32) {
    float q = expf(s[k] * invT - lzs), pk = expf(t[k] * invT - lzt);
    p.gradStudent[i * K + k] = c * (q - pk);
  }
}

}  // namespace

void alignLoss(const AlignLossParams& p, float* loss, cudaStream_t stream) {
  if (p.B <= 0) return;
  DeviceScratch rows(sizeof(float) * p.B);
  alignLossKernel<<<unsigned(p.B), 128, 0, stream>>>(p, rows.as<float>());
  CUDA_CHECK_LAUNCH();
  finishLoss<<<1, 256, 0, stream>>>(rows.as<float>(), p.B, loss);
  CUDA_CHECK_LAUNCH();
}

void emdLoss(const EmdLossParams& p, float* loss, cudaStream_t stream) {
  if (p.B <= 0) return;
  DeviceScratch rows(sizeof(float) * p.B);
  emdLossKernel<<<unsigned(ceilDiv(p.B, 128)), 128, 0, stream>>>(p, rows.as<float>());
  CUDA_CHECK_LAUNCH();
  finishLoss<<<1, 256, 0, stream>>>(rows.as<float>(), p.B, loss);
  CUDA_CHECK_LAUNCH();
}

void distillLoss(const DistillLossParams& p, float* loss, cudaStream_t stream) {
  if (p.B <= 0) return;
  DeviceScratch rows(sizeof(float) * p.B);
  distillLossKernel<<<unsigned(ceilDiv(p.B, 8)), 256, 0, stream>>>(p, rows.as<float>());
  CUDA_CHECK_LAUNCH();
  finishLoss<<<1, 256, 0, stream>>>(rows.as<float>(), p.B, loss);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cskd::cuda
