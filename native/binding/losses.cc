#include "cpu/losses.h"

#include "binding/args.h"
#ifdef CSKD_HAVE_CUDA
#include "cuda/allocator.h"
#include "cuda/losses.h"
#include "cuda/softmax.h"
#include "cuda/stream.h"
#endif

namespace cskd::binding {
namespace {

#ifdef CSKD_HAVE_CUDA
// On a device the loss lands in a device scalar. With `loss` given (a device
// tensor of one element) the call only enqueues and returns undefined, so a
// step never waits; without it, the value is read back (a synchronisation).
template <typename Launch>
Napi::Value deviceLoss(const Args& a, size_t lossAt, Launch launch) {
  float* out = a.f32(lossAt, 1, "loss", true);
  cudaStream_t s = a.stream();
  if (out) {
    launch(out, s);
    return a.env().Undefined();
  }
  cuda::DeviceScratch scalar(sizeof(float));
  launch(scalar.as<float>(), s);
  float v = 0;
  cuda::copyToHost(&v, scalar.as<float>(), sizeof(float), a.where().index);
  return Napi::Number::New(a.env(), v);
}
#endif

// alignLoss(student, target, weights, grad, B, D, kind, normalize, beta, eps, gradScale)
Napi::Value Align(const Napi::CallbackInfo& info) {
  Args a(info, "alignLoss");
  cpu::AlignLossParams p;
  p.B = a.i64(4, "B");
  p.D = a.i64(5, "D");
  const int64_t kind = a.i64(6, "kind");
  if (kind > 2) a.fail("kind must be 0 (cosine), 1 (mse) or 2 (smooth-l1)", false);
  p.kind = static_cast<cpu::AlignKind>(kind);
  p.normalize = a.flag(7, "normalize");
  p.beta = static_cast<float>(a.num(8, "beta"));
  p.eps = static_cast<float>(a.num(9, "eps"));
  p.gradScale = static_cast<float>(a.num(10, "gradScale"));
  if (p.B < 1 || p.D < 1) a.fail("B and D must be positive", false);
  p.student = a.f32(0, p.B * p.D, "student");
  p.target = a.f32(1, p.B * p.D, "target");
  p.weights = a.f32(2, p.B, "weights", true);
  p.gradStudent = a.f32(3, p.B * p.D, "grad", true);
#ifdef CSKD_HAVE_CUDA
  if (a.onDevice())
    return deviceLoss(a, 11, [&](float* loss, cudaStream_t s) { cuda::alignLoss(p, loss, s); });
#endif
  return Napi::Number::New(info.Env(), cpu::alignLoss(p));
}

// The scalar arguments of both EMD entry points, from index `at`: B, K, r, squared, eps, gradScale.
cpu::EmdLossParams emdScalars(const Args& a, size_t at) {
  cpu::EmdLossParams p;
  p.B = a.i64(at, "B");
  p.K = a.i64(at + 1, "K");
  p.r = static_cast<float>(a.num(at + 2, "r"));
  p.squared = a.flag(at + 3, "squared");
  p.eps = static_cast<float>(a.num(at + 4, "eps"));
  p.gradScale = static_cast<float>(a.num(at + 5, "gradScale"));
  if (p.B < 1 || p.K < 1) a.fail("B and K must be positive", false);
  return p;
}

// emdLoss(pred, target, weights, grad, B, K, r, squared, eps, gradScale)
Napi::Value Emd(const Napi::CallbackInfo& info) {
  Args a(info, "emdLoss");
  cpu::EmdLossParams p = emdScalars(a, 4);
  p.pred = a.f32(0, p.B * p.K, "pred");
  p.target = a.f32(1, p.B * p.K, "target");
  p.weights = a.f32(2, p.B, "weights", true);
  p.gradPred = a.f32(3, p.B * p.K, "grad", true);
#ifdef CSKD_HAVE_CUDA
  if (a.onDevice())
    return deviceLoss(a, 10, [&](float* loss, cudaStream_t s) { cuda::emdLoss(p, loss, s); });
#endif
  return Napi::Number::New(info.Env(), cpu::emdLoss(p));
}

// emdLossFromLogits(logits, target, weights, grad, probs, B, K, r, squared, eps, gradScale)
Napi::Value EmdFromLogits(const Napi::CallbackInfo& info) {
  Args a(info, "emdLossFromLogits");
  cpu::EmdLossParams p = emdScalars(a, 5);
  const float* logits = a.f32(0, p.B * p.K, "logits");
  p.target = a.f32(1, p.B * p.K, "target");
  p.weights = a.f32(2, p.B, "weights", true);
  p.gradPred = a.f32(3, p.B * p.K, "grad", true);
  float* probs = a.f32(4, p.B * p.K, "probs", true);
#ifdef CSKD_HAVE_CUDA
  if (a.onDevice()) {
    // The device has no fused kernel: softmax, EMD on the probabilities, and
    // the softmax backward, on the same stream.
    return deviceLoss(a, 11, [&](float* loss, cudaStream_t s) {
      const int64_t n = p.B * p.K;
      cuda::DeviceScratch probScratch(probs ? 0 : sizeof(float) * n);
      cuda::DeviceScratch gradProbs(p.gradPred ? sizeof(float) * n : 0);
      float* pr = probs ? probs : probScratch.as<float>();
      cuda::softmaxForward(logits, pr, p.B, p.K, 1.f, s);
      cuda::EmdLossParams q = p;
      q.pred = pr;
      q.gradPred = p.gradPred ? gradProbs.as<float>() : nullptr;
      cuda::emdLoss(q, loss, s);
      if (p.gradPred) cuda::softmaxBackward(pr, q.gradPred, p.gradPred, p.B, p.K, 1.f, s);
    });
  }
#endif
  return Napi::Number::New(info.Env(), cpu::emdLossFromLogits(p, logits, probs));
}

// distillLoss(student, teacher, weights, grad, B, K, temperature, kind, gradScale)
Napi::Value Distill(const Napi::CallbackInfo& info) {
  Args a(info, "distillLoss");
  cpu::DistillLossParams p;
  p.B = a.i64(4, "B");
  p.K = a.i64(5, "K");
  p.temperature = static_cast<float>(a.num(6, "temperature"));
  const int64_t kind = a.i64(7, "kind");
  if (kind > 1) a.fail("kind must be 0 (kl) or 1 (soft cross-entropy)", false);
  p.kind = static_cast<cpu::DistillKind>(kind);
  p.gradScale = static_cast<float>(a.num(8, "gradScale"));
  if (p.B < 1 || p.K < 1) a.fail("B and K must be positive", false);
  p.student = a.f32(0, p.B * p.K, "student");
  p.teacher = a.f32(1, p.B * p.K, "teacher");
  p.weights = a.f32(2, p.B, "weights", true);
  p.gradStudent = a.f32(3, p.B * p.K, "grad", true);
#ifdef CSKD_HAVE_CUDA
  if (a.onDevice())
    return deviceLoss(a, 9, [&](float* loss, cudaStream_t s) { cuda::distillLoss(p, loss, s); });
#endif
  return Napi::Number::New(info.Env(), cpu::distillLoss(p));
}

}  // namespace

void registerLosses(Napi::Env env, Napi::Object exports) {
  exports.Set("alignLoss", Napi::Function::New(env, Align, "alignLoss"));
  exports.Set("emdLoss", Napi::Function::New(env, Emd, "emdLoss"));
  exports.Set("emdLossFromLogits", Napi::Function::New(env, EmdFromLogits, "emdLossFromLogits"));
  exports.Set("distillLoss", Napi::Function::New(env, Distill, "distillLoss"));
}

}  // namespace cskd::binding
