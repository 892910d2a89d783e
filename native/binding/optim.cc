#include "cpu/optim.h"

#include <cstring>
#include <vector>

#include "binding/args.h"
#ifdef CSKD_HAVE_CUDA
#include "cuda/allocator.h"
#include "cuda/optim.h"
#include "cuda/stream.h"
#endif

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
    segStart[s] = static_cast<int64_t>(starts[static_cast<size_t>(s)]);
    segLength[s] = static_cast<int64_t>(lengths[static_cast<size_t>(s)]);
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
  // Host arrays on either path (their own place, not the tensors').
  Args tables(info, "adamwStep");
  p.segLr = tables.f32(6, nseg, "segLr");
  p.segWeightDecay = tables.f32(7, nseg, "segWeightDecay");
  if (tables.onDevice()) a.fail("segLr and segWeightDecay must be Float32Arrays", true);
  p.beta1 = a.num(8, "beta1");
  p.beta2 = a.num(9, "beta2");
  p.eps = a.num(10, "eps");
  p.step = a.i64(11, "step");
  if (p.step < 1) a.fail("step is 1-based", false);
  p.gradScale = static_cast<float>(a.num(12, "gradScale"));
#ifdef CSKD_HAVE_CUDA
  if (a.onDevice()) {
    // The segment table goes up with the step (the learning rates change each
    // step under a schedule): one small copy, staged, in stream order.
    const size_t ints = sizeof(int64_t) * nseg, floats = sizeof(float) * nseg;
    std::vector<char> table(2 * ints + 2 * floats);
    std::memcpy(table.data(), segStart.data(), ints);
    std::memcpy(table.data() + ints, segLength.data(), ints);
    std::memcpy(table.data() + 2 * ints, info[6].As<Napi::Float32Array>().Data(), floats);
    std::memcpy(table.data() + 2 * ints + floats, info[7].As<Napi::Float32Array>().Data(), floats);
    cudaStream_t s = a.stream();
    cuda::DeviceScratch dtable(table.size());
    char* d = dtable.as<char>();
    cuda::copyToDevice(d, table.data(), table.size(), a.where().index);
    p.segStart = reinterpret_cast<const int64_t*>(d);
    p.segLength = reinterpret_cast<const int64_t*>(d + ints);
    p.segLr = reinterpret_cast<const float*>(d + 2 * ints);
    p.segWeightDecay = reinterpret_cast<const float*>(d + 2 * ints + floats);
    cuda::adamwStep(p, total, s);
    return info.Env().Undefined();
  }
#endif
  cpu::adamwStep(p);
  return info.Env().Undefined();
}

// sumOfSquares(x, n)
Napi::Value SumSq(const Napi::CallbackInfo& info) {
  Args a(info, "sumOfSquares");
  const int64_t n = a.i64(1, "n");
  const float* x = a.f32(0, n, "x");
#ifdef CSKD_HAVE_CUDA
  if (a.onDevice()) {
    // Read back at once: clipping needs the norm on the host, and this read is
    // the step's one synchronisation.
    cuda::DeviceScratch out(sizeof(double));
    cuda::sumOfSquares(x, n, out.as<double>(), a.stream());
    double v = 0;
    cuda::copyToHost(&v, out.as<double>(), sizeof(double), a.where().index);
    return Napi::Number::New(info.Env(), v);
  }
#endif
  return Napi::Number::New(info.Env(), cpu::sumOfSquares(x, n));
}

// emaUpdate(ema, param, n, decay)
Napi::Value Ema(const Napi::CallbackInfo& info) {
  Args a(info, "emaUpdate");
  const int64_t n = a.i64(2, "n");
  float* ema = a.f32(0, n, "ema");
  const float* param = a.f32(1, n, "param");
  const float decay = static_cast<float>(a.num(3, "decay"));
  CSKD_DISPATCH(a, cuda::emaUpdate(ema, param, n, decay, a.stream()),
                cpu::emaUpdate(ema, param, n, decay));
  return info.Env().Undefined();
}

}  // namespace

void registerOptim(Napi::Env env, Napi::Object exports) {
  exports.Set("adamwStep", Napi::Function::New(env, AdamW, "adamwStep"));
  exports.Set("sumOfSquares", Napi::Function::New(env, SumSq, "sumOfSquares"));
  exports.Set("emaUpdate", Napi::Function::New(env, Ema, "emaUpdate"));
}

}  // namespace cskd::binding
