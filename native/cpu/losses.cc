// Loss and gradient in one pass, rows in parallel, float64 per-row sums so the
// result matches a float64 reference to float32 rounding at any batch size.
#include "cpu/losses.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/parallel.h"
#include "cpu/softmax.h"
#include "cpu/vec_math.h"

namespace cskd::cpu {
namespace {

// Runs rowLoss(i) -> double over the batch in parallel and returns the weighted mean.
// Rows per task: about 8K values, so small batches of short rows stay on one thread.
template <typename F>
double batchMean(int64_t B, int64_t width, const float* weights, F rowLoss) {
  std::vector<double> perRow(static_cast<size_t>(B));
  parallelFor(B, std::max<int64_t>(1, 8192 / std::max<int64_t>(width, 1)),
              [&](int64_t i0, int64_t i1) {
                for (int64_t i = i0; i < i1; ++i) perRow[i] = rowLoss(i);
              });
  double sum = 0.0;
  for (int64_t i = 0; i < B; ++i) sum += (weights ? weights[i] : 1.0) * perRow[i];
  return sum / static_cast<double>(B);
}

double norm(const float* x, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
  return std::sqrt(s);
}

}  // namespace

double alignLoss(const AlignLossParams& p) {
  const int64_t D = p.D;
  return batchMean(p.B, D, p.weights, [&](int64_t i) -> double {
    const float* s = p.student + i * D;
    const float* t = p.target + i * D;
    const double coef = (p.weights ? p.weights[i] : 1.0) * p.gradScale / static_cast<double>(p.B);
    float* g = p.gradStudent ? p.gradStudent + i * D : nullptr;
    const double ns = std::max(norm(s, D), static_cast<double>(p.eps));
    const double nt = std::max(norm(t, D), static_cast<double>(p.eps));
    if (p.kind == AlignKind::Cosine) {
      double dot = 0.0;
      for (int64_t d = 0; d < D; ++d) dot += static_cast<double>(s[d]) * t[d];
      const double cos = dot / (ns * nt);
      if (g) {
        // d(1 - cos)/ds = -(t / (|s||t|) - cos * s / |s|^2)
        for (int64_t d = 0; d < D; ++d)
          g[d] = static_cast<float>(-coef * (t[d] / (ns * nt) - cos * s[d] / (ns * ns)));
      }
      return 1.0 - cos;
    }
    const double sa = p.normalize ? 1.0 / ns : 1.0;
    const double sb = p.normalize ? 1.0 / nt : 1.0;
    double loss = 0.0, ag = 0.0;  // ag = a . dl/da, for the normalisation's Jacobian
    for (int64_t d = 0; d < D; ++d) {
      const double a = s[d] * sa, x = a - t[d] * sb;
      double dl;
      if (p.kind == AlignKind::Mse) {
        loss += x * x;
        dl = 2.0 * x;
      } else {
        const double ax = std::abs(x);
        loss += ax < p.beta ? 0.5 * x * x / p.beta : ax - 0.5 * p.beta;
        dl = ax < p.beta ? x / p.beta : (x > 0 ? 1.0 : -1.0);
      }
      dl /= static_cast<double>(D);
      if (g) g[d] = static_cast<float>(dl);
      ag += a * dl;
    }
    if (g) {
      for (int64_t d = 0; d < D; ++d) {
        // through a = s / |s|: ds = (da - a (a . da)) / |s|
        const double da = g[d];
        const double ds = p.normalize ? (da - s[d] * sa * ag) * sa : da;
        g[d] = static_cast<float>(coef * ds);
      }
    }
    return loss / static_cast<double>(D);
  });
}

double emdLoss(const EmdLossParams& p) {
  const int64_t K = p.K;
  const double r = p.r;
  const bool r2 = p.r == 2.0f;  // the default: no pow() in the inner loops
  return batchMean(p.B, K, p.weights, [&](int64_t i) -> double {
    const float* pr = p.pred + i * K;
    const float* tg = p.target + i * K;
    double stackBuf[64];
    std::vector<double> heapBuf;
    double* d = stackBuf;
    if (K > 64) {
      heapBuf.resize(static_cast<size_t>(K));
      d = heapBuf.data();
    }
    double P = 0.0, Q = 0.0, S = 0.0;
    for (int64_t k = 0; k < K; ++k) {
      P += pr[k];
      Q += tg[k];
      d[k] = P - Q;
      S += r2 ? d[k] * d[k] : std::pow(std::abs(d[k]), r);
    }
    const double inner = S / static_cast<double>(K);
    const double loss =
        p.squared ? inner : (r2 ? std::sqrt(inner + p.eps) : std::pow(inner + p.eps, 1.0 / r));
    if (p.gradPred) {
      const double coef = (p.weights ? p.weights[i] : 1.0) * p.gradScale / static_cast<double>(p.B);
      // dl/dd_k = outer * |d_k|^(r-1) sign(d_k), then dl/dp_j = sum_{k >= j} dl/dd_k
      // (the CDF's adjoint).
      const double outer =
          p.squared ? r / K : (r2 ? 1.0 / (loss * K) : std::pow(loss, 1.0 - r) / K);
      double suffix = 0.0;
      for (int64_t k = K - 1; k >= 0; --k) {
        if (r2) {
          suffix += outer * d[k];
        } else {
          const double sgn = d[k] > 0 ? 1.0 : (d[k] < 0 ? -1.0 : 0.0);
          suffix += outer * std::pow(std::abs(d[k]), r - 1.0) * sgn;
        }
        p.gradPred[i * K + k] = static_cast<float>(coef * suffix);
      }
    }
    return loss;
  });
}

namespace {

// Rows [i0, i0 + rows) of emdLossFromLogits, exponentials already in `e`
// (shifted logits); returns the block's weighted loss sum. A clone per ISA:
// the per-row arithmetic is scalar, but AVX-512/AVX2 code (FMA, three-operand
// forms) runs it about twice as fast as baseline SSE2.
CSKD_SIMD_CLONES double emdRows(const EmdLossParams& p, const float* e, int64_t i0, int64_t rows,
                                float* probs, double* d, double* g) {
  const int64_t K = p.K;
  const bool r2 = p.r == 2.0f;
  const double r = p.r;
  double blockLoss = 0.0;
  for (int64_t r0 = 0; r0 < rows; ++r0) {
    const int64_t i = i0 + r0;
    const float* pr = e + r0 * K;
    double z = 0.0;
    for (int64_t k = 0; k < K; ++k) z += pr[k];
    const double invZ = 1.0 / z;
    const float* tg = p.target + i * K;
    double P = 0.0, Q = 0.0, S = 0.0;
    for (int64_t k = 0; k < K; ++k) {
      P += pr[k] * invZ;
      Q += tg[k];
      d[k] = P - Q;
      S += r2 ? d[k] * d[k] : std::pow(std::abs(d[k]), r);
    }
    const double inner = S / static_cast<double>(K);
    const double loss =
        p.squared ? inner : (r2 ? std::sqrt(inner + p.eps) : std::pow(inner + p.eps, 1.0 / r));
    const double w = p.weights ? p.weights[i] : 1.0;
    blockLoss += w * loss;
    if (probs)
      for (int64_t k = 0; k < K; ++k) probs[i * K + k] = static_cast<float>(pr[k] * invZ);
    if (!p.gradPred) continue;
    // dL/dp_j = sum_{k >= j} dL/dd_k, then through the softmax:
    // dL/dlogit_j = p_j (g_j - sum_k p_k g_k).
    const double coef = w * p.gradScale / static_cast<double>(p.B);
    const double outer = p.squared ? r / K : (r2 ? 1.0 / (loss * K) : std::pow(loss, 1.0 - r) / K);
    double suffix = 0.0, dot = 0.0;
    for (int64_t k = K - 1; k >= 0; --k) {
      suffix += r2 ? outer * d[k]
                   : outer * std::pow(std::abs(d[k]), r - 1.0) *
                         (d[k] > 0 ? 1.0 : (d[k] < 0 ? -1.0 : 0.0));
      g[k] = suffix;
      dot += pr[k] * invZ * suffix;
    }
    float* out = p.gradPred + i * K;
    for (int64_t k = 0; k < K; ++k) out[k] = static_cast<float>(coef * pr[k] * invZ * (g[k] - dot));
  }
  return blockLoss;
}

// The default r = 2 with the rows of a block in the vector lanes: the CDF and
// suffix-sum recurrences run along K, which is short (10 bins), so only
// vectorising across rows fills the registers. Per row, the arithmetic and its
// order are emdRows's. `s` holds 4 * K * kRows + 9 * kRows doubles.
constexpr int64_t kRows = 64;
CSKD_SIMD_CLONES double emdRowsR2(const EmdLossParams& p, const float* e, int64_t i0, int64_t rows,
                                  float* probs, double* s) {
  const int64_t K = p.K, R = kRows;
  double *pT = s, *dT = s + K * R, *gT = s + 2 * K * R, *row = s + 3 * K * R;
  float* eT = reinterpret_cast<float*>(s + 3 * K * R + 9 * R);
  float* tT = eT + K * R;
  double *z = row, *P = row + R, *Q = row + 2 * R, *S = row + 3 * R, *loss = row + 4 * R,
         *outer = row + 5 * R, *coef = row + 6 * R, *suffix = row + 7 * R, *dot = row + 8 * R;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < K; ++k) {
      eT[k * R + r] = e[r * K + k];
      tT[k * R + r] = p.target[(i0 + r) * K + k];
    }
  for (int64_t r = 0; r < rows; ++r) z[r] = P[r] = Q[r] = S[r] = 0.0;
  for (int64_t k = 0; k < K; ++k)
#pragma omp simd
    for (int64_t r = 0; r < rows; ++r) z[r] += eT[k * R + r];
#pragma omp simd
  for (int64_t r = 0; r < rows; ++r) z[r] = 1.0 / z[r];  // from here on, 1 / z
  for (int64_t k = 0; k < K; ++k)
#pragma omp simd
    for (int64_t r = 0; r < rows; ++r) {
      const double pk = eT[k * R + r] * z[r];
      P[r] += pk;
      Q[r] += tT[k * R + r];
      const double d = P[r] - Q[r];
      dT[k * R + r] = d;
      S[r] += d * d;
      pT[k * R + r] = pk;
    }
#pragma omp simd
  for (int64_t r = 0; r < rows; ++r) {
    const double inner = S[r] / static_cast<double>(K);
    loss[r] = p.squared ? inner : std::sqrt(inner + p.eps);
    outer[r] = p.squared ? 2.0 / K : 1.0 / (loss[r] * K);
    coef[r] = (p.weights ? p.weights[i0 + r] : 1.0) * p.gradScale / static_cast<double>(p.B);
    suffix[r] = dot[r] = 0.0;
  }
  double blockLoss = 0.0;
  for (int64_t r = 0; r < rows; ++r) blockLoss += (p.weights ? p.weights[i0 + r] : 1.0) * loss[r];
  if (probs)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < K; ++k) probs[(i0 + r) * K + k] = static_cast<float>(pT[k * R + r]);
  if (!p.gradPred) return blockLoss;
  for (int64_t k = K - 1; k >= 0; --k)
#pragma omp simd
    for (int64_t r = 0; r < rows; ++r) {
      suffix[r] += outer[r] * dT[k * R + r];
      gT[k * R + r] = suffix[r];
      dot[r] += pT[k * R + r] * suffix[r];
    }
  for (int64_t k = 0; k < K; ++k)
#pragma omp simd
    for (int64_t r = 0; r < rows; ++r)
      gT[k * R + r] = coef[r] * eT[k * R + r] * z[r] * (gT[k * R + r] - dot[r]);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < K; ++k)
      p.gradPred[(i0 + r) * K + k] = static_cast<float>(gT[k * R + r]);
  return blockLoss;
}

}  // namespace

double emdLossFromLogits(const EmdLossParams& p, const float* logits, float* probs) {
  const int64_t B = p.B, K = p.K;
  constexpr int64_t kBlock = kRows;  // rows whose exponentials form one vector loop
  const int64_t blocks = (B + kBlock - 1) / kBlock;
  std::vector<double> perBlock(static_cast<size_t>(blocks), 0.0);
  parallelFor(blocks, std::max<int64_t>(1, 8192 / std::max<int64_t>(K * kBlock, 1)),
              [&](int64_t b0, int64_t b1) {
                std::vector<float> e(static_cast<size_t>(kBlock * K));
                std::vector<double> d(static_cast<size_t>(K)), g(static_cast<size_t>(K));
                std::vector<double> lanes(static_cast<size_t>(4 * K * kRows + 9 * kRows));
                for (int64_t blk = b0; blk < b1; ++blk) {
                  const int64_t i0 = blk * kBlock, rows = std::min(kBlock, B - i0);
                  expShiftedRows(logits + i0 * K, e.data(), rows, K, 1.0f);
                  perBlock[blk] = p.r == 2.0f
                                      ? emdRowsR2(p, e.data(), i0, rows, probs, lanes.data())
                                      : emdRows(p, e.data(), i0, rows, probs, d.data(), g.data());
                }
              });
  double sum = 0.0;
  for (double v : perBlock) sum += v;
  return sum / static_cast<double>(B);
}

double distillLoss(const DistillLossParams& p) {
  const int64_t K = p.K;
  const double T = p.temperature;
  return batchMean(p.B, K, p.weights, [&](int64_t i) -> double {
    const float* s = p.student + i * K;
    const float* t = p.teacher + i * K;
    double ms = s[0], mt = t[0];
    for (int64_t k = 1; k < K; ++k) {
      ms = std::max(ms, static_cast<double>(s[k]));
      mt = std::max(mt, static_cast<double>(t[k]));
    }
    double zs = 0.0, zt = 0.0;
    for (int64_t k = 0; k < K; ++k) {
      zs += std::exp((s[k] - ms) / T);
      zt += std::exp((t[k] - mt) / T);
    }
    const double lzs = std::log(zs), lzt = std::log(zt);
    const double coef = (p.weights ? p.weights[i] : 1.0) * p.gradScale / static_cast<double>(p.B);
    double loss = 0.0;
    for (int64_t k = 0; k < K; ++k) {
      const double lq = (s[k] - ms) / T - lzs;  // ln q_k
      const double lp = (t[k] - mt) / T - lzt;  // ln p_k
      const double pk = std::exp(lp);
      loss += p.kind == DistillKind::Kl ? pk * (lp - lq) : -pk * lq;
      if (p.gradStudent)
        p.gradStudent[i * K + k] = static_cast<float>(coef * T * (std::exp(lq) - pk));
    }
    return T * T * loss;
  });
}

}  // namespace cskd::cpu
