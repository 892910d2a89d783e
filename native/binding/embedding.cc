// Patch embedding, token assembly and pooling.
#include "binding/args.h"
#include "cpu/patch_embed.h"
#include "cpu/tokens.h"

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
    cpu::patchifyBackward(a.f32(0, nPatch, "dpatches"), a.f32(1, nImg, "dimages"), B, C, H, W, p);
  } else {
    cpu::patchify(a.f32(0, nImg, "images"), a.f32(1, nPatch, "patches"), B, C, H, W, p);
  }
  return info.Env().Undefined();
}

// embedTokensForward(patches, cls, pos, out, B, P, E)
Napi::Value TokensForward(const Napi::CallbackInfo& info) {
  Args a(info, "embedTokensForward");
  const int64_t B = a.i64(4, "B"), P = a.i64(5, "P"), E = a.i64(6, "E");
  cpu::embedTokensForward(a.f32(0, B * P * E, "patches"), a.f32(1, E, "cls"),
                          a.f32(2, (P + 1) * E, "pos"), a.f32(3, B * (P + 1) * E, "out"), B, P, E);
  return info.Env().Undefined();
}

// embedTokensBackward(dout, dpatches, dcls, dpos, B, P, E)
Napi::Value TokensBackward(const Napi::CallbackInfo& info) {
  Args a(info, "embedTokensBackward");
  const int64_t B = a.i64(4, "B"), P = a.i64(5, "P"), E = a.i64(6, "E");
  cpu::embedTokensBackward(a.f32(0, B * (P + 1) * E, "dout"), a.f32(1, B * P * E, "dpatches"),
                           a.f32(2, E, "dcls"), a.f32(3, (P + 1) * E, "dpos"), B, P, E);
  return info.Env().Undefined();
}

// clsPoolForward(x, out, B, N, E) / clsPoolBackward(dout, dx, B, N, E)
Napi::Value ClsForward(const Napi::CallbackInfo& info) {
  Args a(info, "clsPoolForward");
  const int64_t B = a.i64(2, "B"), N = a.i64(3, "N"), E = a.i64(4, "E");
  cpu::clsPoolForward(a.f32(0, B * N * E, "x"), a.f32(1, B * E, "out"), B, N, E);
  return info.Env().Undefined();
}

Napi::Value ClsBackward(const Napi::CallbackInfo& info) {
  Args a(info, "clsPoolBackward");
  const int64_t B = a.i64(2, "B"), N = a.i64(3, "N"), E = a.i64(4, "E");
  cpu::clsPoolBackward(a.f32(0, B * E, "dout"), a.f32(1, B * N * E, "dx"), B, N, E);
  return info.Env().Undefined();
}

// meanPoolForward(x, out, B, N, E, start) / meanPoolBackward(dout, dx, B, N, E, start)
Napi::Value MeanForward(const Napi::CallbackInfo& info) {
  Args a(info, "meanPoolForward");
  const int64_t B = a.i64(2, "B"), N = a.i64(3, "N"), E = a.i64(4, "E"), s = a.i64(5, "start");
  if (s >= N) a.fail("start must be below N", false);
  cpu::meanPoolForward(a.f32(0, B * N * E, "x"), a.f32(1, B * E, "out"), B, N, E, s);
  return info.Env().Undefined();
}

Napi::Value MeanBackward(const Napi::CallbackInfo& info) {
  Args a(info, "meanPoolBackward");
  const int64_t B = a.i64(2, "B"), N = a.i64(3, "N"), E = a.i64(4, "E"), s = a.i64(5, "start");
  if (s >= N) a.fail("start must be below N", false);
  cpu::meanPoolBackward(a.f32(0, B * E, "dout"), a.f32(1, B * N * E, "dx"), B, N, E, s);
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
