#include "cpu/optim.h"

#include <vector>

#include "binding/args.h"

namespace cskd::binding {
namespace {

// adamwStep(param, grad, m, v, segStart, segLength, segLr, segWeightDecay,
//           beta1, beta2, eps, step, gradScale)
Napi::Value AdamW(const Napi::CallbackInfo& info) {
  Args a(info, "adamwStep");
  Napi::Float64Array starts = a.f64array(4, 0, "segStart");
  const int64_t nseg = static_cast<int64_t>(starts.ElementLength());
  Napi::Float64Array lengths = a.f64array(5, nseg, "segLength");
  std::vector<int64_t> segStart(nseg), segLength(nseg);
  int64_t total = 0;
  for (int64_t s = 0; s < nseg; ++s) {
    segStart[s] = static_cast<int64_t>(starts[s]);
    segLength[s] = static_cast<int64_t>(lengths[s]);
    if (segStart[s] < 0 || segLength[s] < 0) a.fail("segments must be non-negative", false);
    total = std::max(total, segStart[s] + segLength[s]);
  }
  cpu::AdamWParams p;
  p.param = a.f32(0, total, "param");
  p.grad = a.f32(1, total, "grad");
  p.m = a.f32(2, total, "m");
  p.v = a.f32(3, total, "v");
  p.numSegments = nseg;
  p.segStart = segStart.data();
  p.segLength = segLength.data();
  p.segLr = a.f32(6, nseg, "segLr");
  p.segWeightDecay = a.f32(7, nseg, "segWeightDecay");
  p.beta1 = a.num(8, "beta1");
  p.beta2 = a.num(9, "beta2");
  p.eps = a.num(10, "eps");
  p.step = a.i64(11, "step");
  if (p.step < 1) a.fail("step is 1-based", false);
  p.gradScale = static_cast<float>(a.num(12, "gradScale"));
  cpu::adamwStep(p);
  return info.Env().Undefined();
}

// sumOfSquares(x, n)
Napi::Value SumSq(const Napi::CallbackInfo& info) {
  Args a(info, "sumOfSquares");
  const int64_t n = a.i64(1, "n");
  return Napi::Number::New(info.Env(), cpu::sumOfSquares(a.f32(0, n, "x"), n));
}

// emaUpdate(ema, param, n, decay)
Napi::Value Ema(const Napi::CallbackInfo& info) {
  Args a(info, "emaUpdate");
  const int64_t n = a.i64(2, "n");
  cpu::emaUpdate(a.f32(0, n, "ema"), a.f32(1, n, "param"), n,
                 static_cast<float>(a.num(3, "decay")));
  return info.Env().Undefined();
}

}  // namespace

void registerOptim(Napi::Env env, Napi::Object exports) {
  exports.Set("adamwStep", Napi::Function::New(env, AdamW, "adamwStep"));
  exports.Set("sumOfSquares", Napi::Function::New(env, SumSq, "sumOfSquares"));
  exports.Set("emaUpdate", Napi::Function::New(env, Ema, "emaUpdate"));
}

}  // namespace cskd::binding
