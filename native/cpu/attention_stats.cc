// Attention statistics per (batch, head). The probabilities are rebuilt in a
// per-thread buffer exactly as the forward does (softmax over all tokens), then
// read over patch rows and columns only; nothing N x N leaves the kernel.
#include "cpu/attention_stats.h"

#include <cmath>
#include <vector>

#include "cpu/gemm_internal.h"
#include "cpu/parallel.h"

namespace cskd::cpu {

void attentionStats(const AttentionStatsParams& s) {
  const AttentionParams& p = s.attn;
  const int64_t N = p.N, P = N - s.prefix;
  // Pixel distance between every pair of grid cells, shared by all heads.
  std::vector<float> dist(static_cast<size_t>(P * P));
  for (int64_t i = 0; i < P; ++i)
    for (int64_t j = 0; j < P; ++j) {
      const double dy = static_cast<double>(i / s.gridW - j / s.gridW);
      const double dx = static_cast<double>(i % s.gridW - j % s.gridW);
      dist[i * P + j] = static_cast<float>(s.patchPx * std::sqrt(dx * dx + dy * dy));
    }
  parallelFor(p.B * p.H, 1, [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> buf;
    if (buf.size() < static_cast<size_t>(N * N)) buf.resize(N * N);
    float* S = buf.data();
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / p.H, h = t % p.H;
      const int64_t off = b * p.qkv_sB + h * p.qkv_sH;
      GemmParams g;
      g.M = N;
      g.N = N;
      g.K = p.D;
      g.A = p.q + off;
      g.lda = p.qkv_sN;
      g.B = p.k + off;
      g.ldb = p.qkv_sN;
      g.transB = true;
      g.C = S;
      g.ldc = N;
      g.alpha = p.scale;
      gemmSerial(g);
      double distSum = 0.0, entSum = 0.0;
      for (int64_t i = s.prefix; i < N; ++i) {
        float* row = S + i * N;
        float m = row[0];
        for (int64_t j = 1; j < N; ++j) m = std::max(m, row[j]);
        double z = 0.0;
        for (int64_t j = 0; j < N; ++j) z += std::exp(static_cast<double>(row[j] - m));
        const double logZ = std::log(z);
        const float* drow = dist.data() + (i - s.prefix) * P;
        for (int64_t j = s.prefix; j < N; ++j) {
          const double logA = static_cast<double>(row[j] - m) - logZ;
          const double a = std::exp(logA);
          distSum += a * drow[j - s.prefix];
          entSum -= a * logA;
        }
      }
      s.distance[t] = static_cast<float>(distSum / static_cast<double>(P));
      s.entropy[t] = static_cast<float>(entSum / static_cast<double>(P));
    }
  });
}

}  // namespace cskd::cpu
