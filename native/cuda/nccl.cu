// NCCL through dlopen (see nccl.h for why).
//
// The types and enum values below are NCCL's published C ABI (nccl.h, stable
// since 2.0): results and enums are ints, ncclSuccess = 0, ncclInProgress = 7,
// ncclFloat32 = 7, ncclSum = 0, and ncclUniqueId is a 128-byte struct passed
// by value to ncclCommInitRank.
#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "cuda/common.h"
#include "cuda/nccl.h"
#include "cuda/stream.h"

namespace cskd::cuda {
namespace {

using Result = int;  // ncclResult_t
using Comm = void*;  // ncclComm_t
struct UniqueId {
  char internal[kNcclUniqueIdBytes];
};
constexpr Result kSuccess = 0, kInProgress = 7;
constexpr int kFloat32 = 7, kSum = 0;

struct Api {
  void* lib = nullptr;
  NcclStatus status;
  Result (*getVersion)(int*);
  Result (*getUniqueId)(UniqueId*);
  Result (*commInitRank)(Comm*, int, UniqueId, int);
  Result (*allReduce)(const void*, void*, size_t, int, int, Comm, cudaStream_t);
  Result (*broadcast)(const void*, void*, size_t, int, int, Comm, cudaStream_t);
  Result (*commGetAsyncError)(Comm, Result*);
  Result (*commDestroy)(Comm);
  Result (*commAbort)(Comm);
  const char* (*getErrorString)(Result);
  const char* (*getLastError)(Comm) = nullptr;  // NCCL >= 2.13; optional
  Comm comm = nullptr;
  int device = -1;
};

template <typename F>
bool bind(Api& api, F& fn, const char* sym) {
  fn = reinterpret_cast<F>(dlsym(api.lib, sym));
  if (!fn) api.status.reason = api.status.library + " has no " + sym;
  return fn != nullptr;
}

Api& api() {
  static Api a;
  static std::once_flag once;
  std::call_once(once, [] {
    NcclStatus& s = a.status;
    const char* env = std::getenv("CSKD_NCCL");
    if (env && std::strcmp(env, "off") == 0) {
      s.reason = "disabled by CSKD_NCCL=off";
      return;
    }
    // A library the user names is the only one tried: falling back to another
    // would hide the mistake.
    std::vector<std::string> names;
    if (env && *env)
      names.emplace_back(env);
    else
      names = {"libnccl.so.2", "libnccl.so"};
    std::string errors;
    for (const auto& n : names) {
      a.lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (a.lib) {
        s.library = n;
        break;
      }
      const char* e = dlerror();
      errors += std::string(errors.empty() ? "" : "; ") + (e ? e : n + ": cannot open");
    }
    if (!a.lib) {
      s.reason = env && *env ? "CSKD_NCCL=" + std::string(env) + " does not load (" + errors + ")"
                             : "libnccl.so.2 not found (set CSKD_NCCL or LD_LIBRARY_PATH; pip: "
                               "nvidia-nccl-cu13's lib/)";
      return;
    }
    bool ok = bind(a, a.getVersion, "ncclGetVersion") &&
              bind(a, a.getUniqueId, "ncclGetUniqueId") &&
              bind(a, a.commInitRank, "ncclCommInitRank") &&
              bind(a, a.allReduce, "ncclAllReduce") && bind(a, a.broadcast, "ncclBroadcast") &&
              bind(a, a.commGetAsyncError, "ncclCommGetAsyncError") &&
              bind(a, a.commDestroy, "ncclCommDestroy") && bind(a, a.commAbort, "ncclCommAbort") &&
              bind(a, a.getErrorString, "ncclGetErrorString");
    a.getLastError = reinterpret_cast<const char* (*)(Comm)>(dlsym(a.lib, "ncclGetLastError"));
    if (ok && a.getVersion(&s.version) != kSuccess) {
      s.reason = s.library + ": ncclGetVersion failed";
      ok = false;
    }
    s.found = ok;
  });
  return a;
}

Api& loaded(const char* fn) {
  Api& a = api();
  if (!a.status.found)
    throw CudaError(std::string(fn) + ": NCCL is not available: " + a.status.reason);
  return a;
}

void check(Api& a, Result r, const char* call) {
  if (r == kSuccess) return;
  std::string detail = a.getLastError && a.comm ? a.getLastError(a.comm) : "";
  throw CudaError(std::string(call) + " failed: " + a.getErrorString(r) +
                  (detail.empty() ? "" : " (" + detail + ")"));
}

Api& started(const char* fn, int device) {
  Api& a = loaded(fn);
  if (!a.comm) throw CudaError(std::string(fn) + ": the NCCL communicator is not started");
  if (device != a.device)
    throw CudaError(std::string(fn) + ": the tensor is on cuda:" + std::to_string(device) +
                    " but this rank's NCCL communicator is on cuda:" + std::to_string(a.device));
  return a;
}

// Waits for the device's stream, polling NCCL's asynchronous error so that a
// peer's failure ends the wait with its message.
void waitFor(Api& a, int device, const char* call) {
  cudaStream_t s = deviceStream(device);
  for (;;) {
    const cudaError_t q = cudaStreamQuery(s);
    if (q == cudaSuccess) return;
    if (q != cudaErrorNotReady) CUDA_CHECK(q);
    Result r = kSuccess;
    check(a, a.commGetAsyncError(a.comm, &r), "ncclCommGetAsyncError");
    if (r != kSuccess && r != kInProgress) check(a, r, call);
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace

NcclStatus ncclStatus() { return api().status; }

void ncclNewUniqueId(uint8_t out[kNcclUniqueIdBytes]) {
  Api& a = loaded("ncclNewUniqueId");
  UniqueId id{};
  check(a, a.getUniqueId(&id), "ncclGetUniqueId");
  std::memcpy(out, id.internal, kNcclUniqueIdBytes);
}

void ncclStart(int device, const uint8_t idBytes[kNcclUniqueIdBytes], int nranks, int rank) {
  Api& a = loaded("ncclStart");
  if (a.comm) throw CudaError("ncclStart: the NCCL communicator is already started");
  UniqueId id{};
  std::memcpy(id.internal, idBytes, kNcclUniqueIdBytes);
  deviceStream(device);  // NCCL binds the communicator to the current device
  Comm comm = nullptr;
  check(a, a.commInitRank(&comm, nranks, id, rank), "ncclCommInitRank");
  a.comm = comm;
  a.device = device;
}

int ncclDevice() { return api().comm ? api().device : -1; }

void ncclAllReduceSum(float* x, size_t n, int device) {
  Api& a = started("ncclAllReduceSum", device);
  synchronize(device);
  check(a, a.allReduce(x, x, n, kFloat32, kSum, a.comm, deviceStream(device)), "ncclAllReduce");
  waitFor(a, device, "ncclAllReduce");
}

void ncclBroadcastFrom(float* x, size_t n, int root, int device) {
  Api& a = started("ncclBroadcastFrom", device);
  synchronize(device);
  check(a, a.broadcast(x, x, n, kFloat32, root, a.comm, deviceStream(device)), "ncclBroadcast");
  waitFor(a, device, "ncclBroadcast");
}

void ncclStop(bool abort) {
  Api& a = api();
  if (!a.comm) return;
  Comm comm = a.comm;
  a.comm = nullptr;
  a.device = -1;
  const Result r = abort ? a.commAbort(comm) : a.commDestroy(comm);
  if (r != kSuccess)
    throw CudaError(std::string(abort ? "ncclCommAbort" : "ncclCommDestroy") +
                    " failed: " + a.getErrorString(r));
}

}  // namespace cskd::cuda
