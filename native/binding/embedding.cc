// Patch embedding, token assembly and pooling.
#include "binding/args.h"
#include "cpu/patch_embed.h"
#include "cpu/tokens.h"
#ifdef CSKD_HAVE_CUDA
#include "cuda/patch_embed.h"
#include "cuda/tokens.h"
#endif

namespace cskd::binding {
namespace {

// patchify(images, patches, B, C, H, W, p) / patchifyBackward(dpatches, dimages, ...)
template <bool kBackward>
Napi::Value Patchify(const Napi::CallbackInfo& info) {
  Args a(info, kBackward ? "patchifyBackward" : "patchify");
  const int64_t B = a.i64(2, "B"), C = a.i64(3, "C"), H = a.i64(4, "H"), W = a.i64(5, "W"),
                p = a.i64(6, "patch");
  if (p < 1) a.fail("patch must be positive", false);
  const int64_t nImg = B * C * H * W, nPatch = B * (H / p) * (W / p) * C * p * p;
  if (kBackward) {
    const float* dpatches = a.f32(0, nPatch, "dpatches");
    float* dimages = a.f32(1, nImg, "dimages");
    CSKD_DISPATCH(a, cuda::patchifyBackward(dpatches, dimages, B, C, H, W, p, a.stream()),
                  cpu::patchifyBackward(dpatches, dimages, B, C, H, W, p));
  } else {
    const float* images = a.f32(0, nImg, "images");
    float* patches = a.f32(1, nPatch, "patches");
    CSKD_DISPATCH(a, cuda::patchify(images, patches, B, C, H, W, p, a.stream()),
                  cpu::patchify(images, patches, B, C, H, W, p));
  }
  return info.Env().Undefined();
}

// embedTokensForward(patches, cls, pos, out, B, P, E)
Napi::Value TokensForward(const Napi::CallbackInfo& info) {
  Args a(info, "embedTokensForward");
  const int64_t B = a.i64(4, "B"), P = a.i64(5, "P"), E = a.i64(6, "E");
  const float *patches = a.f32(0, B * P * E, "patches"), *cls = a.f32(1, E, "cls"),
              *pos = a.f32(2, (P + 1) * E, "pos");
  float* out = a.f32(3, B * (P + 1) * E, "out");
  CSKD_DISPATCH(a, cuda::embedTokensForward(patches, cls, pos, out, B, P, E, a.stream()),
                cpu::embedTokensForward(patches, cls, pos, out, B, P, E));
  return info.Env().Undefined();
}

// embedTokensBackward(dout, dpatches, dcls, dpos, B, P, E)
Napi::Value TokensBackward(const Napi::CallbackInfo& info) {
  Args a(info, "embedTokensBackward");
  const int64_t B = a.i64(4, "B"), P = a.i64(5, "P"), E = a.i64(6, "E");
  const float* dout = a.f32(0, B * (P + 1) * E, "dout");
  float *dpatches = a.f32(1, B * P * E, "dpatches"), *dcls = a.f32(2, E, "dcls"),
        *dpos = a.f32(3, (P + 1) * E, "dpos");
  CSKD_DISPATCH(a, cuda::embedTokensBackward(dout, dpatches, dcls, dpos, B, P, E, a.stream()),
                cpu::embedTokensBackward(dout, dpatches, dcls, dpos, B, P, E));
  return info.Env().Undefined();
}

// clsPoolForward(x, out, B, N, E) / clsPoolBackward(dout, dx, B, N, E)
Napi::Value ClsForward(const Napi::CallbackInfo& info) {
  Args a(info, "clsPoolForward");
  const int64_t B = a.i64(2, "B"), N = a.i64(3, "N"), E = a.i64(4, "E");
  const float* x = a.f32(0, B * N * E, "x");
  float* out = a.f32(1, B * E, "out");
  CSKD_DISPATCH(a, cuda::clsPoolForward(x, out, B, N, E, a.stream()),
                cpu::clsPoolForward(x, out, B, N, E));
  return info.Env().Undefined();
}

Napi::Value ClsBackward(const Napi::CallbackInfo& info) {
  Args a(info, "clsPoolBackward");
  const int64_t B = a.i64(2, "B"), N = a.i64(3, "N"), E = a.i64(4, "E");
  const float* dout = a.f32(0, B * E, "dout");
  float* dx = a.f32(1, B * N * E, "dx");
  CSKD_DISPATCH(a, cuda::clsPoolBackward(dout, dx, B, N, E, a.stream()),
                cpu::clsPoolBackward(dout, dx, B, N, E));
  return info.Env().Undefined();
}

// meanPoolForward(x, out, B, N, E, start) / meanPoolBackward(dout, dx, B, N, E, start)
Napi::Value MeanForward(const Napi::CallbackInfo& info) {
  Args a(info, "meanPoolForward");
  const int64_t B = a.i64(2, "B"), N = a.i64(3, "N"), E = a.i64(4, "E"), s = a.i64(5, "start");
  if (s >= N) a.fail("start must be below N", false);
  const float* x = a.f32(0, B * N * E, "x");
  float* out = a.f32(1, B * E, "out");
  CSKD_DISPATCH(a, cuda::meanPoolForward(x, out, B, N, E, s, a.stream()),
                cpu::meanPoolForward(x, out, B, N, E, s));
  return info.Env().Undefined();
}

Napi::Value MeanBackward(const Napi::CallbackInfo& info) {
  Args a(info, "meanPoolBackward");
  const int64_t B = a.i64(2, "B"), N = a.i64(3, "N"), E = a.i64(4, "E"), s = a.i64(5, "start");
  if (s >= N) a.fail("start must be below N", false);
  const float* dout = a.f32(0, B * E, "dout");
  float* dx = a.f32(1, B * N * E, "dx");
  CSKD_DISPATCH(a, cuda::meanPoolBackward(dout, dx, B, N, E, s, a.stream()),
                cpu::meanPoolBackward(dout, dx, B, N, E, s));
  return info.Env().Undefined();
}

}  // namespace

void registerEmbedding(Napi::Env env, Napi::Object exports) {
  exports.Set("patchify", Napi::Function::New(env, Patchify<false>, "patchify"));
  exports.Set("patchifyBackward", Napi::Function::New(env, Patchify<true>, "patchifyBackward"));
  exports.Set("embedTokensForward", Napi::Function::New(env, TokensForward, "embedTokensForward"));
  exports.Set("embedTokensBackward",
              Napi::Function::New(env, TokensBackward, "embedTokensBackward"));
  exports.Set("clsPoolForward", Napi::Function::New(env, ClsForward, "clsPoolForward"));
  exports.Set("clsPoolBackward", Napi::Function::New(env, ClsBackward, "clsPoolBackward"));
  exports.Set("meanPoolForward", Napi::Function::New(env, MeanForward, "meanPoolForward"));
  exports.Set("meanPoolBackward", Napi::Function::New(env, MeanBackward, "meanPoolBackward"));
}

}  // namespace cskd::binding
