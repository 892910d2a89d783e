// cskd_cuda_check: checks every CUDA kernel against its cskd::cpu twin, then
// times it (llm.c dev/cuda style, but on the production kernels themselves).
//
// For each kernel and shape: fresh random inputs, outputs poisoned with NaN
// before the GPU run, relative error ||out - ref|| / ||ref|| against a budget
// (float32 paths 1e-5..1e-4, bf16 paths 1e-2). Timings are medians of CUDA
// event pairs after warm-up, reported as GB/s (bytes each kernel must move at
// least) or TFLOP/s. Exit status 1 when any check misses its budget.
//
//   cskd_cuda_check [--quick] [--small]   --quick: checks only, no timing;
//                                         --small: skip the large shapes
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "cpu/attention.h"
#include "cpu/attention_stats.h"
#include "cpu/elementwise.h"
#include "cpu/gelu.h"
#include "cpu/gemm.h"
#include "cpu/layernorm.h"
#include "cpu/losses.h"
#include "cpu/optim.h"
#include "cpu/patch_embed.h"
#include "cpu/softmax.h"
#include "cpu/tokens.h"
#include "cuda/allocator.h"
#include "cuda/attention.h"
#include "cuda/attention_stats.h"
#include "cuda/check/check_util.h"
#include "cuda/cublaslt.h"
#include "cuda/device.h"
#include "cuda/elementwise.h"
#include "cuda/gelu.h"
#include "cuda/gemm.h"
#include "cuda/layernorm.h"
#include "cuda/losses.h"
#include "cuda/optim.h"
#include "cuda/patch_embed.h"
#include "cuda/softmax.h"
#include "cuda/tokens.h"

using namespace cskd;
using namespace cskd::check;

namespace {

bool gTime = true;
bool gSmall = false;            // --small: only the small shapes (for the CPU emulation)
constexpr double kF32 = 1e-5;   // elementwise / exact-order float32
constexpr double kF32R = 1e-4;  // float32 with reductions or fast exp
constexpr double kBf16 = 1e-2;

std::string shapeStr(std::initializer_list<int64_t> dims) {
  std::string s;
  for (auto d : dims) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

float download1(const float* p) {
  float v;
  CUDA_CHECK(cudaMemcpy(&v, p, sizeof(float), cudaMemcpyDeviceToHost));
  return v;
}

// ---------------------------------------------------------------- elementwise
void checkElementwise(int64_t rows, int64_t cols, bool time) {
  const int64_t n = rows * cols;
  const std::string sh = shapeStr({rows, cols});
  auto a = randn(n), b = randn(n), bias = randn(cols);
  DeviceBuffer da(a), db(b), dbias(bias), dout(n);
  std::vector<float> ref(n);
  cpu::add(a.data(), b.data(), ref.data(), n);
  dout.poison();
  cuda::add(da.ptr, db.ptr, dout.ptr, n, 0);
  expectClose("add", sh, dout.download(), ref, kF32);

  ref = b;
  cpu::axpy(0.37f, a.data(), ref.data(), n);
  dout.upload(b);
  cuda::axpy(0.37f, da.ptr, dout.ptr, n, 0);
  expectClose("axpy", sh, dout.download(), ref, kF32);

  ref = a;
  cpu::scale(ref.data(), n, -1.7f);
  dout.upload(a);
  cuda::scale(dout.ptr, n, -1.7f, 0);
  expectClose("scale", sh, dout.download(), ref, kF32);

  cpu::biasAdd(a.data(), bias.data(), ref.data(), rows, cols);
  dout.poison();
  cuda::biasAdd(da.ptr, dbias.ptr, dout.ptr, rows, cols, 0);
  expectClose("biasAdd", sh, dout.download(), ref, kF32);

  auto g0 = randn(cols);
  std::vector<float> gref = g0;
  cpu::biasGradient(a.data(), gref.data(), rows, cols, true);
  DeviceBuffer dg(g0);
  cuda::biasGradient(da.ptr, dg.ptr, rows, cols, true, 0);
  expectClose("biasGradient(acc)", sh, dg.download(), gref, kF32R);
  cpu::biasGradient(a.data(), gref.data(), rows, cols, false);
  dg.poison();
  cuda::biasGradient(da.ptr, dg.ptr, rows, cols, false, 0);
  expectClose("biasGradient", sh, dg.download(), gref, kF32R);

  if (!time) return;
  const double f = sizeof(float);
  recordTiming("add", sh, medianMs([&] { cuda::add(da.ptr, db.ptr, dout.ptr, n, 0); }), 3 * f * n,
               0);
  recordTiming("axpy", sh, medianMs([&] { cuda::axpy(0.5f, da.ptr, dout.ptr, n, 0); }), 3 * f * n,
               0);
  recordTiming("scale", sh, medianMs([&] { cuda::scale(dout.ptr, n, 0.999f, 0); }), 2 * f * n, 0);
  recordTiming("biasAdd", sh,
               medianMs([&] { cuda::biasAdd(da.ptr, dbias.ptr, dout.ptr, rows, cols, 0); }),
               2 * f * n, 0);
  recordTiming("biasGradient", sh,
               medianMs([&] { cuda::biasGradient(da.ptr, dg.ptr, rows, cols, false, 0); }), f * n,
               0);
}

// ---------------------------------------------------------------------- gelu
void checkGelu(int64_t n, bool time) {
  const char* names[] = {"erf", "tanh", "quick"};
  auto x = randn(n, 2.f), dy = randn(n), dx0 = randn(n);
  DeviceBuffer dxin(x), ddy(dy), dy_out(n), ddx(n);
  for (int k = 0; k < 3; ++k) {
    auto kind = cpu::GeluKind(k);
    std::string nm = std::string("gelu.") + names[k];
    std::vector<float> ref(n), gref = dx0;
    cpu::geluForward(x.data(), ref.data(), n, kind);
    dy_out.poison();
    cuda::geluForward(dxin.ptr, dy_out.ptr, n, kind, 0);
    expectClose(nm + ".fwd", std::to_string(n), dy_out.download(), ref, kF32);
    cpu::geluBackward(x.data(), dy.data(), gref.data(), n, kind, true);
    ddx.upload(dx0);
    cuda::geluBackward(dxin.ptr, ddy.ptr, ddx.ptr, n, kind, true, 0);
    expectClose(nm + ".bwd(acc)", std::to_string(n), ddx.download(), gref, kF32);
    if (time && k == 0) {
      const double f = sizeof(float);
      recordTiming(nm + ".fwd", std::to_string(n),
                   medianMs([&] { cuda::geluForward(dxin.ptr, dy_out.ptr, n, kind, 0); }),
                   2 * f * n, 0);
      recordTiming(nm + ".bwd", std::to_string(n), medianMs([&] {
                     cuda::geluBackward(dxin.ptr, ddy.ptr, ddx.ptr, n, kind, false, 0);
                   }),
                   3 * f * n, 0);
    }
  }
}

// ------------------------------------------------------------------- softmax
void checkSoftmax(int64_t rows, int64_t cols, float T, bool time) {
  const std::string sh = shapeStr({rows, cols});
  auto x = randn(rows * cols, 3.f), dy = randn(rows * cols);
  std::vector<float> y(rows * cols), dx(rows * cols);
  cpu::softmaxForward(x.data(), y.data(), rows, cols, T);
  cpu::softmaxBackward(y.data(), dy.data(), dx.data(), rows, cols, T);
  DeviceBuffer dxin(x), ddy(dy), dyo(rows * cols), ddx(rows * cols);
  dyo.poison();
  cuda::softmaxForward(dxin.ptr, dyo.ptr, rows, cols, T, 0);
  expectClose("softmax.fwd", sh, dyo.download(), y, kF32R);
  dyo.upload(y);
  ddx.poison();
  cuda::softmaxBackward(dyo.ptr, ddy.ptr, ddx.ptr, rows, cols, T, 0);
  expectClose("softmax.bwd", sh, ddx.download(), dx, kF32R);
  if (!time) return;
  const double f = sizeof(float) * rows * cols;
  recordTiming("softmax.fwd", sh,
               medianMs([&] { cuda::softmaxForward(dxin.ptr, dyo.ptr, rows, cols, T, 0); }), 2 * f,
               0);
  recordTiming("softmax.bwd", sh, medianMs([&] {
                 cuda::softmaxBackward(dyo.ptr, ddy.ptr, ddx.ptr, rows, cols, T, 0);
               }),
               3 * f, 0);
}

// ----------------------------------------------------------------- layernorm
void checkLayerNorm(int64_t rows, int64_t cols, bool time) {
  const std::string sh = shapeStr({rows, cols});
  const int64_t n = rows * cols;
  auto x = randn(n, 2.f), gamma = randn(cols), beta = randn(cols), dy = randn(n);
  for (auto& v : x) v += 0.5f;  // a non-zero mean
  std::vector<float> y(n), mean(rows), rstd(rows);
  cpu::layerNormForward(x.data(), gamma.data(), beta.data(), y.data(), mean.data(), rstd.data(),
                        rows, cols, 1e-5f);
  DeviceBuffer dx_(x), dg(gamma), db(beta), dyo(n), dm(rows), dr(rows);
  dyo.poison(), dm.poison(), dr.poison();
  cuda::layerNormForward(dx_.ptr, dg.ptr, db.ptr, dyo.ptr, dm.ptr, dr.ptr, rows, cols, 1e-5f, 0);
  expectClose("layerNorm.fwd", sh, dyo.download(), y, kF32R);
  expectClose("layerNorm.fwd.mean", sh, dm.download(), mean, kF32R);
  expectClose("layerNorm.fwd.rstd", sh, dr.download(), rstd, kF32R);

  auto dx0 = randn(n), dgam0 = randn(cols), dbet0 = randn(cols);
  std::vector<float> dxr = dx0, dgr = dgam0, dbr = dbet0;
  cpu::layerNormBackward(x.data(), gamma.data(), mean.data(), rstd.data(), dy.data(), dxr.data(),
                         dgr.data(), dbr.data(), rows, cols, true);
  DeviceBuffer ddy(dy), ddx(dx0), ddg(dgam0), ddb(dbet0);
  dm.upload(mean), dr.upload(rstd);
  cuda::layerNormBackward(dx_.ptr, dg.ptr, dm.ptr, dr.ptr, ddy.ptr, ddx.ptr, ddg.ptr, ddb.ptr, rows,
                          cols, true, 0);
  expectClose("layerNorm.bwd.dx(acc)", sh, ddx.download(), dxr, kF32R);
  expectClose("layerNorm.bwd.dgamma", sh, ddg.download(), dgr, kF32R);
  expectClose("layerNorm.bwd.dbeta", sh, ddb.download(), dbr, kF32R);
  if (!time) return;
  const double f = sizeof(float);
  recordTiming("layerNorm.fwd", sh, medianMs([&] {
                 cuda::layerNormForward(dx_.ptr, dg.ptr, db.ptr, dyo.ptr, dm.ptr, dr.ptr, rows,
                                        cols, 1e-5f, 0);
               }),
               f * (2 * n + 2 * rows), 0);
  recordTiming("layerNorm.bwd", sh, medianMs([&] {
                 cuda::layerNormBackward(dx_.ptr, dg.ptr, dm.ptr, dr.ptr, ddy.ptr, ddx.ptr, ddg.ptr,
                                         ddb.ptr, rows, cols, false, 0);
               }),
               f * (3 * n + 2 * rows), 0);
}

// ----------------------------------------------------------- patchify/tokens
void checkPatchify(int64_t B, int64_t C, int64_t H, int64_t W, int64_t p, bool time) {
  const std::string sh = shapeStr({B, C, H, W}) + "/p" + std::to_string(p);
  const int64_t ni = B * C * H * W, np = B * (H / p) * (W / p) * C * p * p;
  auto img = randn(ni), dpat = randn(np);
  std::vector<float> pat(np), dimg(ni);
  cpu::patchify(img.data(), pat.data(), B, C, H, W, p);
  cpu::patchifyBackward(dpat.data(), dimg.data(), B, C, H, W, p);
  DeviceBuffer di(img), dp_(np), ddp(dpat), ddi(ni);
  dp_.poison(), ddi.poison();
  cuda::patchify(di.ptr, dp_.ptr, B, C, H, W, p, 0);
  cuda::patchifyBackward(ddp.ptr, ddi.ptr, B, C, H, W, p, 0);
  expectClose("patchify", sh, dp_.download(), pat, kF32);
  expectClose("patchify.bwd", sh, ddi.download(), dimg, kF32);
  if (!time) return;
  recordTiming("patchify", sh, medianMs([&] { cuda::patchify(di.ptr, dp_.ptr, B, C, H, W, p, 0); }),
               8.0 * ni, 0);
  recordTiming("patchify.bwd", sh,
               medianMs([&] { cuda::patchifyBackward(ddp.ptr, ddi.ptr, B, C, H, W, p, 0); }),
               8.0 * ni, 0);
}

void checkTokens(int64_t B, int64_t P, int64_t E, bool time) {
  const std::string sh = shapeStr({B, P, E});
  const int64_t N = P + 1;
  auto pat = randn(B * P * E), cls = randn(E), pos = randn(N * E), dout = randn(B * N * E);
  std::vector<float> out(B * N * E);
  cpu::embedTokensForward(pat.data(), cls.data(), pos.data(), out.data(), B, P, E);
  DeviceBuffer dpat(pat), dcls(cls), dpos(pos), dout_(B * N * E), ddo(dout);
  dout_.poison();
  cuda::embedTokensForward(dpat.ptr, dcls.ptr, dpos.ptr, dout_.ptr, B, P, E, 0);
  expectClose("embedTokens.fwd", sh, dout_.download(), out, kF32);
  std::vector<float> dp(B * P * E), dc = cls, dq = pos;  // accumulate onto cls/pos values
  cpu::embedTokensBackward(dout.data(), dp.data(), dc.data(), dq.data(), B, P, E);
  DeviceBuffer ddp(B * P * E), ddc(cls), ddq(pos);
  ddp.poison();
  cuda::embedTokensBackward(ddo.ptr, ddp.ptr, ddc.ptr, ddq.ptr, B, P, E, 0);
  expectClose("embedTokens.bwd.dpatches", sh, ddp.download(), dp, kF32);
  expectClose("embedTokens.bwd.dcls", sh, ddc.download(), dc, kF32R);
  expectClose("embedTokens.bwd.dpos", sh, ddq.download(), dq, kF32R);

  auto x = randn(B * N * E), g = randn(B * E);
  DeviceBuffer dx(x), dg(g), dpool(B * E), ddx(B * N * E);
  std::vector<float> pool(B * E), gx(B * N * E);
  cpu::clsPoolForward(x.data(), pool.data(), B, N, E);
  dpool.poison();
  cuda::clsPoolForward(dx.ptr, dpool.ptr, B, N, E, 0);
  expectClose("clsPool.fwd", sh, dpool.download(), pool, kF32);
  cpu::clsPoolBackward(g.data(), gx.data(), B, N, E);
  ddx.poison();
  cuda::clsPoolBackward(dg.ptr, ddx.ptr, B, N, E, 0);
  expectClose("clsPool.bwd", sh, ddx.download(), gx, kF32);
  cpu::meanPoolForward(x.data(), pool.data(), B, N, E, 1);
  dpool.poison();
  cuda::meanPoolForward(dx.ptr, dpool.ptr, B, N, E, 1, 0);
  expectClose("meanPool.fwd", sh, dpool.download(), pool, kF32R);
  cpu::meanPoolBackward(g.data(), gx.data(), B, N, E, 1);
  ddx.poison();
  cuda::meanPoolBackward(dg.ptr, ddx.ptr, B, N, E, 1, 0);
  expectClose("meanPool.bwd", sh, ddx.download(), gx, kF32);
  if (!time) return;
  const double f = sizeof(float);
  recordTiming("embedTokens.fwd", sh, medianMs([&] {
                 cuda::embedTokensForward(dpat.ptr, dcls.ptr, dpos.ptr, dout_.ptr, B, P, E, 0);
               }),
               f * (B * P * E + B * N * E), 0);
  recordTiming("embedTokens.bwd", sh, medianMs([&] {
                 cuda::embedTokensBackward(ddo.ptr, ddp.ptr, ddc.ptr, ddq.ptr, B, P, E, 0);
               }),
               f * (B * P * E + B * N * E), 0);
  recordTiming("meanPool.fwd", sh,
               medianMs([&] { cuda::meanPoolForward(dx.ptr, dpool.ptr, B, N, E, 1, 0); }),
               f * B * N * E, 0);
}

// -------------------------------------------------------------------- losses
void checkLosses(int64_t B, int64_t D, int64_t K, bool time) {
  DeviceBuffer dloss(1);
  auto w = uniform(B, 0.5f, 1.5f);
  DeviceBuffer dw(w);
  // Alignment, every kind, with and without normalisation and weights.
  auto s = randn(B * D), t = randn(B * D);
  DeviceBuffer ds(s), dt(t), dgs(B * D);
  const char* kinds[] = {"cosine", "mse", "smoothL1"};
  for (int k = 0; k < 3; ++k)
    for (int norm = 0; norm < 2; ++norm) {
      if (k == 0 && norm == 0) continue;
      cpu::AlignLossParams p;
      p.student = s.data(), p.target = t.data(), p.weights = norm ? w.data() : nullptr;
      p.B = B, p.D = D, p.kind = cpu::AlignKind(k), p.normalize = norm, p.beta = 0.05f;
      p.gradScale = 0.5f;
      std::vector<float> g(B * D);
      p.gradStudent = g.data();
      const double ref = cpu::alignLoss(p);
      cpu::AlignLossParams q = p;
      q.student = ds.ptr, q.target = dt.ptr, q.weights = norm ? dw.ptr : nullptr;
      q.gradStudent = dgs.ptr;
      dgs.poison(), dloss.poison();
      cuda::alignLoss(q, dloss.ptr, 0);
      const std::string nm = std::string("alignLoss.") + kinds[k] + (norm ? "" : ".raw");
      const std::string sh = shapeStr({B, D});
      expectClose(nm + ".loss", sh, {download1(dloss.ptr)}, {float(ref)}, kF32R);
      expectClose(nm + ".grad", sh, dgs.download(), g, kF32R);
      if (time && k == 0)
        recordTiming(nm, sh, medianMs([&] { cuda::alignLoss(q, dloss.ptr, 0); }),
                     3.0 * sizeof(float) * B * D, 0);
    }
  // EMD: r = 2 (root and squared) and r = 1.
  auto pr = randomDistributions(B, K), tg = randomDistributions(B, K);
  DeviceBuffer dpr(pr), dtg(tg), dgp(B * K);
  struct {
    float r;
    bool sq;
    const char* name;
  } emds[] = {{2.f, false, "emdLoss.r2"}, {2.f, true, "emdLoss.r2sq"}, {1.f, false, "emdLoss.r1"}};
  for (auto& e : emds) {
    cpu::EmdLossParams p;
    p.pred = pr.data(), p.target = tg.data(), p.weights = w.data(), p.B = B, p.K = K;
    p.r = e.r, p.squared = e.sq, p.gradScale = 2.f;
    std::vector<float> g(B * K);
    p.gradPred = g.data();
    const double ref = cpu::emdLoss(p);
    cpu::EmdLossParams q = p;
    q.pred = dpr.ptr, q.target = dtg.ptr, q.weights = dw.ptr, q.gradPred = dgp.ptr;
    dgp.poison(), dloss.poison();
    cuda::emdLoss(q, dloss.ptr, 0);
    const std::string sh = shapeStr({B, K});
    expectClose(std::string(e.name) + ".loss", sh, {download1(dloss.ptr)}, {float(ref)}, kF32R);
    expectClose(std::string(e.name) + ".grad", sh, dgp.download(), g, kF32R);
    if (time && !e.sq && e.r == 2.f)
      recordTiming(e.name, sh, medianMs([&] { cuda::emdLoss(q, dloss.ptr, 0); }),
                   3.0 * sizeof(float) * B * K, 0);
  }
  // Distillation, both kinds, T = 2.
  auto sl = randn(B * K, 2.f), tl = randn(B * K, 2.f);
  DeviceBuffer dsl(sl), dtl(tl), dgl(B * K);
  for (int k = 0; k < 2; ++k) {
    cpu::DistillLossParams p;
    p.student = sl.data(), p.teacher = tl.data(), p.B = B, p.K = K, p.temperature = 2.f;
    p.kind = cpu::DistillKind(k), p.weights = k ? w.data() : nullptr;
    std::vector<float> g(B * K);
    p.gradStudent = g.data();
    const double ref = cpu::distillLoss(p);
    cpu::DistillLossParams q = p;
    q.student = dsl.ptr, q.teacher = dtl.ptr, q.weights = k ? dw.ptr : nullptr,
    q.gradStudent = dgl.ptr;
    dgl.poison(), dloss.poison();
    cuda::distillLoss(q, dloss.ptr, 0);
    const std::string nm = k ? "distillLoss.sce" : "distillLoss.kl";
    const std::string sh = shapeStr({B, K});
    expectClose(nm + ".loss", sh, {download1(dloss.ptr)}, {float(ref)}, kF32R);
    expectClose(nm + ".grad", sh, dgl.download(), g, kF32R);
    if (time && k == 0)
      recordTiming(nm, sh, medianMs([&] { cuda::distillLoss(q, dloss.ptr, 0); }),
                   3.0 * sizeof(float) * B * K, 0);
  }
}

// --------------------------------------------------------------------- optim
void checkOptim(int64_t segments, int64_t segLen, bool time) {
  std::vector<int64_t> start, len;
  std::vector<float> lr, wd;
  int64_t off = 0;
  for (int64_t s = 0; s < segments; ++s) {
    int64_t l = segLen + (s * 7919) % (segLen / 2 + 1);  // uneven lengths, odd offsets
    start.push_back(off), len.push_back(l);
    lr.push_back(1e-3f * (1.f + 0.1f * float(s % 5))), wd.push_back(s % 3 ? 0.05f : 0.f);
    off += l + (s % 4 == 3 ? 13 : 0);  // a few gaps between segments
  }
  const int64_t n = off;
  const std::string sh = std::to_string(segments) + "seg/" + std::to_string(n);
  auto param = randn(n), grad = randn(n), m = randn(n, 0.1f), v = uniform(n, 0.f, 0.01f);
  cpu::AdamWParams p;
  std::vector<float> pr = param, mr = m, vr = v;
  p.param = pr.data(), p.grad = grad.data(), p.m = mr.data(), p.v = vr.data();
  p.numSegments = segments, p.segStart = start.data(), p.segLength = len.data();
  p.segLr = lr.data(), p.segWeightDecay = wd.data(), p.step = 7, p.gradScale = 0.8f;
  cpu::adamwStep(p);
  DeviceBuffer dp(param), dg(grad), dm(m), dv(v), dlr(lr), dwd(wd);
  int64_t *dstart, *dlen;
  CUDA_CHECK(cudaMalloc(&dstart, sizeof(int64_t) * segments));
  CUDA_CHECK(cudaMalloc(&dlen, sizeof(int64_t) * segments));
  CUDA_CHECK(cudaMemcpy(dstart, start.data(), sizeof(int64_t) * segments, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(dlen, len.data(), sizeof(int64_t) * segments, cudaMemcpyHostToDevice));
  cpu::AdamWParams q = p;
  q.param = dp.ptr, q.grad = dg.ptr, q.m = dm.ptr, q.v = dv.ptr, q.segStart = dstart,
  q.segLength = dlen, q.segLr = dlr.ptr, q.segWeightDecay = dwd.ptr;
  cuda::adamwStep(q, n, 0);
  expectClose("adamw.param", sh, dp.download(), pr, kF32);
  expectClose("adamw.m", sh, dm.download(), mr, kF32);
  expectClose("adamw.v", sh, dv.download(), vr, kF32);

  const double ssq = cpu::sumOfSquares(grad.data(), n);
  double* dssq;
  CUDA_CHECK(cudaMalloc(&dssq, sizeof(double)));
  cuda::sumOfSquares(dg.ptr, n, dssq, 0);
  double got = 0;
  CUDA_CHECK(cudaMemcpy(&got, dssq, sizeof(double), cudaMemcpyDeviceToHost));
  expectClose("sumOfSquares", std::to_string(n), {float(got)}, {float(ssq)}, 1e-6);

  std::vector<float> ema = m;
  cpu::emaUpdate(ema.data(), param.data(), n, 0.999f);
  DeviceBuffer de(m), dpar(param);
  cuda::emaUpdate(de.ptr, dpar.ptr, n, 0.999f, 0);
  expectClose("emaUpdate", std::to_string(n), de.download(), ema, kF32);
  if (time) {
    const double f = sizeof(float);
    recordTiming("adamw", sh, medianMs([&] { cuda::adamwStep(q, n, 0); }), 7 * f * n, 0);
    recordTiming("sumOfSquares", std::to_string(n),
                 medianMs([&] { cuda::sumOfSquares(dg.ptr, n, dssq, 0); }), f * n, 0);
    recordTiming("emaUpdate", std::to_string(n),
                 medianMs([&] { cuda::emaUpdate(de.ptr, dpar.ptr, n, 0.999f, 0); }), 3 * f * n, 0);
  }
  cudaFree(dstart), cudaFree(dlen), cudaFree(dssq);
}

// ----------------------------------------------------------------- attention
// packed: q/k/v inside one [B, N, 3, H, D] buffer and out as [B, N, H*D]
// (the ViT layout); otherwise separate [B, H, N, D] tensors.
void checkAttention(int64_t B, int64_t H, int64_t N, int64_t D, bool packed, bool time) {
  const std::string sh = shapeStr({B, H, N, D}) + (packed ? " packed" : "");
  const int64_t elems = B * H * N * D;
  cpu::AttentionParams p;
  p.B = B, p.H = H, p.N = N, p.D = D, p.scale = 1.f / std::sqrt(float(D));
  std::vector<float> qkv = randn(3 * elems), dout = randn(elems);
  int64_t offQ = 0, offK, offV;
  if (packed) {
    p.qkv_sB = N * 3 * H * D, p.qkv_sH = D, p.qkv_sN = 3 * H * D;
    offK = H * D, offV = 2 * H * D;
    p.o_sB = N * H * D, p.o_sH = D, p.o_sN = H * D;
  } else {
    p.qkv_sB = H * N * D, p.qkv_sH = N * D, p.qkv_sN = D;
    offK = elems, offV = 2 * elems;
    p.o_sB = H * N * D, p.o_sH = N * D, p.o_sN = D;
  }
  std::vector<float> out(elems), lse(B * H * N), dqkv(3 * elems, 0.f);
  cpu::AttentionParams c = p;
  c.q = qkv.data() + offQ, c.k = qkv.data() + offK, c.v = qkv.data() + offV;
  c.out = out.data(), c.lse = lse.data(), c.dout = dout.data();
  c.dq = dqkv.data() + offQ, c.dk = dqkv.data() + offK, c.dv = dqkv.data() + offV;
  cpu::attentionForward(c);
  cpu::attentionBackward(c);

  DeviceBuffer dqkv_in(qkv), dout_(elems), dlse(B * H * N), ddout(dout), ddqkv(3 * elems);
  cpu::AttentionParams g = p;
  g.q = dqkv_in.ptr + offQ, g.k = dqkv_in.ptr + offK, g.v = dqkv_in.ptr + offV;
  g.out = dout_.ptr, g.lse = dlse.ptr, g.dout = ddout.ptr;
  g.dq = ddqkv.ptr + offQ, g.dk = ddqkv.ptr + offK, g.dv = ddqkv.ptr + offV;
  dout_.poison(), dlse.poison(), ddqkv.poison();
  cuda::attentionForward(g, 0);
  expectClose("attention.fwd.out", sh, dout_.download(), out, kF32R);
  expectClose("attention.fwd.lse", sh, dlse.download(), lse, kF32R);
  // Backward from the CPU forward's out and lse, so the two backward passes see
  // identical inputs.
  dout_.upload(out), dlse.upload(lse);
  cuda::attentionBackward(g, 0);
  expectClose("attention.bwd.dqkv", sh, ddqkv.download(), dqkv, kF32R);
  // Tensor cores: bf16 operands, float32 accumulation.
  const auto bf16 = cuda::AttentionPrecision::Bf16;
  dout_.poison(), dlse.poison(), ddqkv.poison();
  cuda::attentionForward(g, 0, bf16);
  expectClose("attention.bf16.fwd.out", sh, dout_.download(), out, kBf16);
  expectClose("attention.bf16.fwd.lse", sh, dlse.download(), lse, kBf16);
  dout_.upload(out), dlse.upload(lse);
  cuda::attentionBackward(g, 0, bf16);
  expectClose("attention.bf16.bwd.dqkv", sh, ddqkv.download(), dqkv, kBf16);
  if (!time) return;
  recordTiming("attention.fwd.bf16", sh, medianMs([&] { cuda::attentionForward(g, 0, bf16); }), 0,
               4.0 * B * H * N * N * D);
  recordTiming("attention.bwd.bf16", sh, medianMs([&] { cuda::attentionBackward(g, 0, bf16); }), 0,
               10.0 * B * H * N * N * D);
  const double flopsF = 4.0 * B * H * N * N * D, flopsB = 2.5 * flopsF;  // FA convention
  recordTiming("attention.fwd.fp32", sh, medianMs([&] { cuda::attentionForward(g, 0); }), 0,
               flopsF);
  recordTiming("attention.bwd.fp32", sh, medianMs([&] { cuda::attentionBackward(g, 0); }), 0,
               flopsB);
}

void checkAttentionStats(int64_t B, int64_t H, int64_t gh, int64_t gw, int64_t D, bool time) {
  const int64_t N = 1 + gh * gw;
  const std::string sh = shapeStr({B, H, N, D});
  const int64_t elems = B * H * N * D;
  auto q = randn(elems), k = randn(elems);
  cpu::AttentionStatsParams s;
  s.attn.B = B, s.attn.H = H, s.attn.N = N, s.attn.D = D, s.attn.scale = 1.f / std::sqrt(float(D));
  s.attn.qkv_sB = H * N * D, s.attn.qkv_sH = N * D, s.attn.qkv_sN = D;
  s.prefix = 1, s.gridH = gh, s.gridW = gw, s.patchPx = 16.f;
  std::vector<float> dist(B * H), ent(B * H);
  cpu::AttentionStatsParams c = s;
  c.attn.q = q.data(), c.attn.k = k.data(), c.distance = dist.data(), c.entropy = ent.data();
  cpu::attentionStats(c);
  DeviceBuffer dq(q), dk(k), ddist(B * H), dent(B * H);
  cpu::AttentionStatsParams g = s;
  g.attn.q = dq.ptr, g.attn.k = dk.ptr, g.distance = ddist.ptr, g.entropy = dent.ptr;
  ddist.poison(), dent.poison();
  cuda::attentionStats(g, 0);
  expectClose("attentionStats.distance", sh, ddist.download(), dist, kF32R);
  expectClose("attentionStats.entropy", sh, dent.download(), ent, kF32R);
  if (time)
    recordTiming("attentionStats", sh, medianMs([&] { cuda::attentionStats(g, 0); }), 0,
                 4.0 * B * H * N * N * D);
}

// ---------------------------------------------------------------------- gemm
void checkGemm(int64_t M, int64_t N, int64_t K, bool tA, bool tB, int64_t batch, bool bias,
               float beta, bool check, bool time) {
  const int64_t lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 1, ldc = N + 2;  // padded rows
  const int64_t rowsA = tA ? K : M, rowsB = tB ? N : K;
  const int64_t sA = rowsA * lda, sB = rowsB * ldb, sC = M * ldc;
  auto A = randn(sA * batch), Bm = randn(sB * batch), C0 = randn(sC * batch), bv = randn(N);
  cpu::GemmParams p;
  p.M = M, p.N = N, p.K = K, p.transA = tA, p.transB = tB, p.alpha = 0.75f, p.beta = beta;
  p.lda = lda, p.ldb = ldb, p.ldc = ldc, p.strideA = sA, p.strideB = sB, p.strideC = sC;
  p.batch = batch;
  std::string sh = shapeStr({M, N, K}) + (tA ? " tA" : "") + (tB ? " tB" : "") +
                   (batch > 1 ? " b" + std::to_string(batch) : "") + (bias ? " bias" : "") +
                   (beta != 0 ? " beta" : "");
  std::vector<float> ref;
  if (check) {
    ref = C0;
    cpu::GemmParams c = p;
    c.A = A.data(), c.B = Bm.data(), c.C = ref.data(), c.bias = bias ? bv.data() : nullptr;
    cpu::gemm(c);
  }
  DeviceBuffer dA(A), dB(Bm), dC(sC * batch), dbias(bv);
  cpu::GemmParams g = p;
  g.A = dA.ptr, g.B = dB.ptr, g.C = dC.ptr, g.bias = bias ? dbias.ptr : nullptr;
  struct Variant {
    const char* name;
    cuda::GemmPrecision prec;
    cuda::GemmBackend backend;
    double budget;
  } variants[] = {{"gemm.own.fp32", cuda::GemmPrecision::Fp32, cuda::GemmBackend::Own, kF32R},
                  {"gemm.own.bf16", cuda::GemmPrecision::Bf16, cuda::GemmBackend::Own, kBf16},
                  {"gemm.lt.fp32", cuda::GemmPrecision::Fp32, cuda::GemmBackend::CublasLt, kF32R},
                  {"gemm.lt.bf16", cuda::GemmPrecision::Bf16, cuda::GemmBackend::CublasLt, kBf16}};
  const bool lt = cuda::cublasLtAvailable();
  for (auto& v : variants) {
    if (v.backend == cuda::GemmBackend::CublasLt && (!lt || (bias && batch > 1))) continue;
    if (check) {
      if (beta != 0)
        dC.upload(C0);
      else
        dC.poison();  // beta == 0 must not read C
      cuda::gemm(g, v.prec, 0, v.backend);
      // Compare the M x N part of each batch (the ldc padding is not an output).
      auto got = dC.download();
      std::vector<float> o, r;
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            o.push_back(got[b * sC + m * ldc + n]);
            r.push_back(ref[b * sC + m * ldc + n]);
          }
      expectClose(v.name, sh, o, r, v.budget);
    }
    if (time) {
      const double flops = 2.0 * M * N * K * batch;
      recordTiming(v.name, sh, medianMs([&] { cuda::gemm(g, v.prec, 0, v.backend); }, 3, 15), 0,
                   flops);
    }
  }
}

void printTable() {
  std::printf("\n%-6s %-28s %-34s %10s %9s %10s %10s\n", "check", "kernel", "shape", "rel.err",
              "ms", "GB/s", "TFLOP/s");
  int fails = 0, checks = 0;
  for (auto& r : results()) {
    if (r.error >= 0) {
      ++checks;
      if (!r.pass) ++fails;
      if (r.pass) continue;  // passing checks were printed above; the table shows misses
      std::printf("%-6s %-28s %-34s %10.2e\n", "FAIL", r.kernel.c_str(), r.shape.c_str(), r.error);
    } else {
      std::printf("%-6s %-28s %-34s %10s %9.4f", "", r.kernel.c_str(), r.shape.c_str(), "", r.ms);
      if (r.gbps > 0)
        std::printf(" %10.1f", r.gbps);
      else
        std::printf(" %10s", "");
      if (r.tflops > 0) std::printf(" %10.2f", r.tflops);
      std::printf("\n");
    }
  }
  std::printf("\n%d checks, %d failed\n", checks, fails);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--quick"))
      gTime = false;
    else if (!std::strcmp(argv[i], "--small"))
      gSmall = true;
  std::string reason;
  auto devices = cuda::listDevices(&reason);
  if (devices.empty()) {
    std::fprintf(stderr, "cskd_cuda_check: no CUDA device (%s)\n", reason.c_str());
    return 2;
  }
  const auto& d = devices[0];
  std::printf("device: %s (sm_%d%d, %d SMs, %.1f GiB), runtime %d\n", d.name.c_str(), d.major,
              d.minor, d.multiprocessors, d.totalMemory / 1073741824.0, cuda::runtimeVersion());
  std::string ltReason;
  if (cuda::cublasLtAvailable(&ltReason))
    std::printf("cuBLASLt: %s\n", cuda::cublasLtLibrary().c_str());
  else
    std::printf("cuBLASLt: not loaded (%s)\n", ltReason.c_str());

  try {
    // Copy bandwidth, the ceiling for every memory-bound kernel below.
    if (gTime) {
      const size_t n = size_t(1) << 28;  // 1 GiB
      DeviceBuffer a(n), b(n);
      CUDA_CHECK(cudaMemset(a.ptr, 1, 4 * n));
      double ms = medianMs(
          [&] { CUDA_CHECK(cudaMemcpyAsync(b.ptr, a.ptr, 4 * n, cudaMemcpyDeviceToDevice, 0)); });
      recordTiming("memcpy.d2d", "1GiB", ms, 8.0 * n, 0, "bytes read + written");
    }
    const bool T = gTime, big = !gSmall;
    checkElementwise(197, 385, false);
    if (big) checkElementwise(65536, 768, T);
    checkGelu(100003, false);
    if (big) checkGelu(65536 * 768, T);
    checkSoftmax(37, 10, 1.f, false);
    checkSoftmax(1000, 577, 2.f, false);
    if (big) checkSoftmax(262144, 10, 1.f, T);
    checkLayerNorm(197, 384, false);
    checkLayerNorm(100, 1001, false);  // generic path (cols % 4 != 0)
    checkLayerNorm(50, 2048, false);   // wider than the register path
    if (big) checkLayerNorm(65536, 768, T);
    checkPatchify(2, 3, 230, 227, 16, false);  // leftover pixels
    if (big) checkPatchify(64, 3, 224, 224, 16, T);
    checkTokens(3, 49, 96, false);
    if (big) checkTokens(64, 196, 768, T);
    checkLosses(37, 513, 10, false);
    if (big) checkLosses(65536, 768, 10, T);
    checkOptim(7, 1001, false);
    if (big) checkOptim(150, 570000, T);  // ~86M parameters, ViT-B sized
    checkAttention(2, 3, 50, 32, false, false);
    checkAttention(2, 2, 197, 64, true, false);
    checkAttention(2, 2, 257, 64, false, false);
    checkAttention(1, 2, 577, 128, true, false);
    checkAttention(2, 2, 97, 48, false, false);  // odd head dim, padded
    if (big) checkAttention(32, 6, 197, 64, true, T);
    checkAttentionStats(2, 3, 14, 14, 64, false);
    checkAttentionStats(2, 2, 24, 24, 32, false);
    if (big) checkAttentionStats(32, 12, 14, 14, 64, T);
    for (int tA = 0; tA < 2; ++tA)
      for (int tB = 0; tB < 2; ++tB) checkGemm(197, 131, 77, tA, tB, 1, false, 0.f, true, false);
    checkGemm(197, 384, 768, false, true, 1, true, 0.f, true, false);
    checkGemm(96, 200, 64, false, false, 3, true, 1.f, true, false);
    checkGemm(300, 257, 129, true, false, 2, false, 0.5f, true, false);
    if (big) checkGemm(6304, 2304, 768, false, true, 1, true, 0.f, true, T);  // ViT-S qkv, B32
    if (big) checkGemm(768, 768, 6304, true, false, 1, false, 1.f, true, T);  // its weight gradient
    if (T && big) checkGemm(4096, 4096, 4096, false, true, 1, false, 0.f, false, T);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cskd_cuda_check: %s\n", e.what());
    printTable();
    return 3;
  }
  printTable();
  for (auto& r : results())
    if (r.error >= 0 && !r.pass) return 1;
  return 0;
}
