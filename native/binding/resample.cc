// View rendering from cached raw pixels, asynchronous: the work runs on
// libuv's pool (as sharp's does) so it overlaps the training step, which
// blocks the JS thread.
#include "cpu/resample.h"

#include "binding/args.h"

namespace cskd::binding {
namespace {

class ResampleWorker : public Napi::AsyncWorker {
 public:
  ResampleWorker(Napi::Env env, const cpu::ViewResample& job, Napi::Object src, Napi::Object out)
      : Napi::AsyncWorker(env, "cskd.renderRawView"),
        job_(job),
        deferred_(Napi::Promise::Deferred::New(env)),
        src_(Napi::Persistent(src)),  // both arrays stay alive until the work is done
        out_(Napi::Persistent(out)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }
  void Execute() override { cpu::resampleView(job_); }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  cpu::ViewResample job_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference src_, out_;
};

// renderRawView(src: Uint8Array (HWC RGB), width, height,
//               axes: Float64Array [xOrigin, xStep, xLo, xHi, yOrigin, yStep, yLo, yHi],
//               size, flip, norm: Float64Array [mean0..2, std0..2], out: Float32Array, offset)
//   -> Promise<void>; writes [3, size, size] at out[offset ..].
Napi::Value RenderRawView(const Napi::CallbackInfo& info) {
  Args a(info, "renderRawView");
  Napi::Value sv = info[0];
  if (!sv.IsTypedArray() || sv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    a.fail("src must be a Uint8Array", true);
  Napi::Uint8Array src = sv.As<Napi::Uint8Array>();
  cpu::ViewResample v{};
  v.width = a.i64(1, "width");
  v.height = a.i64(2, "height");
  if (v.width < 1 || v.height < 1) a.fail("width and height must be positive", false);
  if (static_cast<int64_t>(src.ElementLength()) < v.width * v.height * 3)
    a.fail("src holds fewer than width * height * 3 bytes", false);
  v.src = src.Data();
  Napi::Float64Array axes = a.f64array(3, 8, "axes");
  v.x = {axes[0], axes[1], static_cast<int64_t>(axes[2]), static_cast<int64_t>(axes[3])};
  v.y = {axes[4], axes[5], static_cast<int64_t>(axes[6]), static_cast<int64_t>(axes[7])};
  if (!(v.x.lo >= 0 && v.x.lo <= v.x.hi && v.x.hi < v.width && v.y.lo >= 0 && v.y.lo <= v.y.hi &&
        v.y.hi < v.height))
    a.fail("clamp ranges must lie inside the image", false);
  if (!(v.x.step > 0 && v.y.step > 0)) a.fail("steps must be positive", false);
  v.size = a.i64(4, "size");
  if (v.size < 1) a.fail("size must be positive", false);
  v.flip = a.flag(5, "flip");
  Napi::Float64Array norm = a.f64array(6, 6, "norm");
  for (int c = 0; c < 3; ++c) {
    v.mean[c] = static_cast<float>(norm[c]);
    v.std[c] = static_cast<float>(norm[3 + c]);
  }
  const int64_t offset = a.i64(8, "offset");
  float* out = a.f32(7, offset + 3 * v.size * v.size, "out");
  v.out = out + offset;
  auto* w = new ResampleWorker(info.Env(), v, src, info[7].As<Napi::Object>());
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace

void registerResample(Napi::Env env, Napi::Object exports) {
  exports.Set("renderRawView", Napi::Function::New(env, RenderRawView, "renderRawView"));
}

}  // namespace cskd::binding
