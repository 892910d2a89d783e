// NCCL for JS (src/dist/nccl.ts): whether it loads, rank 0's unique id, the
// communicator's start and end, and the two collectives over device views.
// Without CUDA only ncclInfo exists, saying why NCCL cannot be used.
#include <string>

#include "binding/args.h"
#ifdef CSKD_HAVE_CUDA
#include "cuda/nccl.h"
#endif

namespace cskd::binding {
namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
#ifdef CSKD_HAVE_CUDA
  const cuda::NcclStatus s = cuda::ncclStatus();
  o.Set("found", s.found);
  if (s.found) {
    o.Set("version", s.version);
    o.Set("library", s.library);
  } else {
    o.Set("reason", s.reason);
  }
#else
  o.Set("found", false);
  o.Set("reason", "this addon is built without CUDA (NCCL carries device tensors)");
#endif
  return o;
}

#ifdef CSKD_HAVE_CUDA

// ncclUniqueId(): rank 0's id, a Uint8Array of 128 bytes.
Napi::Value UniqueId(const Napi::CallbackInfo& info) {
  Napi::Uint8Array id = Napi::Uint8Array::New(info.Env(), cuda::kNcclUniqueIdBytes);
  cuda::ncclNewUniqueId(id.Data());
  return id;
}

// ncclStart(device, id, nranks, rank)
Napi::Value Start(const Napi::CallbackInfo& info) {
  Args a(info, "ncclStart");
  const int64_t device = a.i64(0, "device");
  Napi::Value v = info[1];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      v.As<Napi::Uint8Array>().ElementLength() != cuda::kNcclUniqueIdBytes)
    a.fail("id must be a Uint8Array of 128 bytes (from ncclUniqueId on rank 0)", true);
  const int64_t nranks = a.i64(2, "nranks");
  const int64_t rank = a.i64(3, "rank");
  if (nranks < 1 || rank >= nranks) a.fail("rank must be below nranks", false);
  cuda::ncclStart(static_cast<int>(device), v.As<Napi::Uint8Array>().Data(),
                  static_cast<int>(nranks), static_cast<int>(rank));
  return info.Env().Undefined();
}

// ncclAllReduce(x: device view, n): sum over the ranks, in place; waits.
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  Args a(info, "ncclAllReduce");
  const int64_t n = a.i64(1, "n");
  float* x = a.f32(0, n, "x");
  if (!a.onDevice()) a.fail("x must be a device view", true);
  cuda::ncclAllReduceSum(x, static_cast<size_t>(n), a.where().index);
  return info.Env().Undefined();
}

// ncclBroadcast(x: device view, n, root): root's x into every rank's; waits.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Args a(info, "ncclBroadcast");
  const int64_t n = a.i64(1, "n");
  float* x = a.f32(0, n, "x");
  if (!a.onDevice()) a.fail("x must be a device view", true);
  const int64_t root = a.i64(2, "root");
  cuda::ncclBroadcastFrom(x, static_cast<size_t>(n), static_cast<int>(root), a.where().index);
  return info.Env().Undefined();
}

// ncclStop(abort): destroy (every rank, in order) or abort (this rank alone).
Napi::Value Stop(const Napi::CallbackInfo& info) {
  Args a(info, "ncclStop");
  cuda::ncclStop(a.flag(0, "abort"));
  return info.Env().Undefined();
}

#endif

}  // namespace

void registerNccl(Napi::Env env, Napi::Object exports) {
  exports.Set("ncclInfo", Napi::Function::New(env, Info, "ncclInfo"));
#ifdef CSKD_HAVE_CUDA
  exports.Set("ncclUniqueId", Napi::Function::New(env, UniqueId, "ncclUniqueId"));
  exports.Set("ncclStart", Napi::Function::New(env, Start, "ncclStart"));
  exports.Set("ncclAllReduce", Napi::Function::New(env, AllReduce, "ncclAllReduce"));
  exports.Set("ncclBroadcast", Napi::Function::New(env, Broadcast, "ncclBroadcast"));
  exports.Set("ncclStop", Napi::Function::New(env, Stop, "ncclStop"));
#endif
}

}  // namespace cskd::binding
