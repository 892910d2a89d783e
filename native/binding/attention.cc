#include "cpu/attention.h"

#include "binding/args.h"
#include "cpu/attention_stats.h"
#ifdef CSKD_HAVE_CUDA
#include "cuda/attention.h"
#include "cuda/attention_stats.h"
#endif

namespace cskd::binding {
namespace {

// Reads dims [B, H, N, D], qkv strides and out strides (Float64Arrays of 4, 3, 3).
cpu::AttentionParams readShape(const Args& a, size_t dimsAt, size_t qkvAt, size_t oAt,
                               size_t scaleAt) {
  cpu::AttentionParams p;
  Napi::Float64Array dims = a.f64array(dimsAt, 4, "dims");
  Napi::Float64Array qs = a.f64array(qkvAt, 3, "qkvStrides");
  p.B = static_cast<int64_t>(dims[0]);
  p.H = static_cast<int64_t>(dims[1]);
  p.N = static_cast<int64_t>(dims[2]);
  p.D = static_cast<int64_t>(dims[3]);
  p.qkv_sB = static_cast<int64_t>(qs[0]);
  p.qkv_sH = static_cast<int64_t>(qs[1]);
  p.qkv_sN = static_cast<int64_t>(qs[2]);
  if (oAt != 0) {
    Napi::Float64Array os = a.f64array(oAt, 3, "outStrides");
    p.o_sB = static_cast<int64_t>(os[0]);
    p.o_sH = static_cast<int64_t>(os[1]);
    p.o_sN = static_cast<int64_t>(os[2]);
  }
  p.scale = static_cast<float>(a.num(scaleAt, "scale"));
  if (p.N < 1 || p.D < 1) a.fail("N and D must be positive", false);
  return p;
}

#ifdef CSKD_HAVE_CUDA
cuda::AttentionPrecision precision(bool bf16) {
  return bf16 ? cuda::AttentionPrecision::Bf16 : cuda::AttentionPrecision::Fp32;
}
#endif

// attentionForward(q, k, v, out, lse, dims, qkvStrides, outStrides, scale, bf16)
Napi::Value Forward(const Napi::CallbackInfo& info) {
  Args a(info, "attentionForward");
  cpu::AttentionParams p = readShape(a, 5, 6, 7, 8);
  const int64_t nq = stridedExtent(p.B, p.H, p.N, p.D, p.qkv_sB, p.qkv_sH, p.qkv_sN);
  const int64_t no = stridedExtent(p.B, p.H, p.N, p.D, p.o_sB, p.o_sH, p.o_sN);
  p.q = a.f32(0, nq, "q");
  p.k = a.f32(1, nq, "k");
  p.v = a.f32(2, nq, "v");
  p.out = a.f32(3, no, "out");
  p.lse = a.f32(4, p.B * p.H * p.N, "lse");
  const bool bf16 = bf16Arg(a, 9);
  (void)bf16;
  CSKD_DISPATCH(a, cuda::attentionForward(p, a.stream(), precision(bf16)),
                cpu::attentionForward(p));
  return info.Env().Undefined();
}

// attentionBackward(q, k, v, out, dout, lse, dq, dk, dv, dims, qkvStrides, outStrides, scale,
//                   bf16)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  Args a(info, "attentionBackward");
  cpu::AttentionParams p = readShape(a, 9, 10, 11, 12);
  const int64_t nq = stridedExtent(p.B, p.H, p.N, p.D, p.qkv_sB, p.qkv_sH, p.qkv_sN);
  const int64_t no = stridedExtent(p.B, p.H, p.N, p.D, p.o_sB, p.o_sH, p.o_sN);
  p.q = a.f32(0, nq, "q");
  p.k = a.f32(1, nq, "k");
  p.v = a.f32(2, nq, "v");
  p.out = a.f32(3, no, "out");
  p.dout = a.f32(4, no, "dout");
  p.lse = a.f32(5, p.B * p.H * p.N, "lse");
  p.dq = a.f32(6, nq, "dq");
  p.dk = a.f32(7, nq, "dk");
  p.dv = a.f32(8, nq, "dv");
  const bool bf16 = bf16Arg(a, 13);
  (void)bf16;
  CSKD_DISPATCH(a, cuda::attentionBackward(p, a.stream(), precision(bf16)),
                cpu::attentionBackward(p));
  return info.Env().Undefined();
}

// attentionStats(q, k, distance, entropy, dims, qkvStrides, scale, prefix, gridH, gridW, patchPx)
Napi::Value Stats(const Napi::CallbackInfo& info) {
  Args a(info, "attentionStats");
  cpu::AttentionStatsParams s;
  s.attn = readShape(a, 4, 5, 0, 6);
  const cpu::AttentionParams& p = s.attn;
  s.prefix = a.i64(7, "prefix");
  s.gridH = a.i64(8, "gridH");
  s.gridW = a.i64(9, "gridW");
  s.patchPx = static_cast<float>(a.num(10, "patchPx"));
  if (s.gridH * s.gridW + s.prefix != p.N || s.gridH * s.gridW < 1)
    a.fail("gridH * gridW + prefix must equal N", false);
  const int64_t nq = stridedExtent(p.B, p.H, p.N, p.D, p.qkv_sB, p.qkv_sH, p.qkv_sN);
  s.attn.q = a.f32(0, nq, "q");
  s.attn.k = a.f32(1, nq, "k");
  s.distance = a.f32(2, p.B * p.H, "distance");
  s.entropy = a.f32(3, p.B * p.H, "entropy");
  CSKD_DISPATCH(a, cuda::attentionStats(s, a.stream()), cpu::attentionStats(s));
  return info.Env().Undefined();
}

}  // namespace

void registerAttention(Napi::Env env, Napi::Object exports) {
  exports.Set("attentionForward", Napi::Function::New(env, Forward, "attentionForward"));
  exports.Set("attentionBackward", Napi::Function::New(env, Backward, "attentionBackward"));
  exports.Set("attentionStats", Napi::Function::New(env, Stats, "attentionStats"));
}

}  // namespace cskd::binding
