// cskd_mpi.node: the MPI communicator's native half, a module apart from the
// main addon (which never links MPI). Built only where CMake finds MPI, against
// that MPI's own headers and library, so Open MPI and MPICH both work.
//
// Two things about loading MPI inside Node:
//  - Node dlopen()s addons RTLD_LOCAL, so libmpi's symbols are not visible to
//    the plugins Open MPI itself dlopen()s during MPI_Init (its MCA
//    components). init() re-opens the already loaded libmpi RTLD_GLOBAL first.
//  - MPI calls stay on the thread that called init() (MPI_THREAD_FUNNELED);
//    every function here checks that. The watchdog thread never calls MPI.
#include <dlfcn.h>
#include <mpi.h>
#include <napi.h>

#include <climits>
#include <string>
#include <thread>
#include <vector>

#include "mpi/exchange.h"
#include "mpi/watchdog.h"

namespace cskd::mpi {
namespace {

std::thread::id gMpiThread;
bool gInitialized = false;

void check(Napi::Env env, int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Napi::Error::New(env, std::string(call) + " failed: " + std::string(msg, len));
}

void requireMpiThread(Napi::Env env, const char* fn) {
  if (!gInitialized) throw Napi::Error::New(env, std::string(fn) + ": MPI is not initialised");
  if (std::this_thread::get_id() != gMpiThread)
    throw Napi::Error::New(env, std::string(fn) + ": MPI calls belong to the thread that ran init");
}

struct Buffer {
  void* data;
  int count;
  MPI_Datatype type;
};

// A typed array's elements and their MPI type.
Buffer typedBuffer(Napi::Env env, const Napi::Value& v, const char* fn, const char* name) {
  if (!v.IsTypedArray())
    throw Napi::TypeError::New(env, std::string(fn) + ": " + name + " must be a typed array");
  auto t = v.As<Napi::TypedArray>();
  MPI_Datatype type;
  switch (t.TypedArrayType()) {
    case napi_float32_array:
      type = MPI_FLOAT;
      break;
    case napi_float64_array:
      type = MPI_DOUBLE;
      break;
    case napi_int32_array:
      type = MPI_INT32_T;
      break;
    case napi_uint8_array:
      type = MPI_UINT8_T;
      break;
    default:
      throw Napi::TypeError::New(env, std::string(fn) + ": " + name +
                                          " must be a Float32Array, Float64Array, Int32Array "
                                          "or Uint8Array");
  }
  if (t.ElementLength() > static_cast<size_t>(INT_MAX))
    throw Napi::RangeError::New(env, std::string(fn) + ": " + name + " exceeds MPI's int count");
  auto* base = static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
  return {base, static_cast<int>(t.ElementLength()), type};
}

double seconds(Napi::Env env, const Napi::Value& v, const char* fn) {
  if (!v.IsNumber() || !(v.As<Napi::Number>().DoubleValue() > 0))
    throw Napi::TypeError::New(env, std::string(fn) + ": timeout must be a positive number");
  return v.As<Napi::Number>().DoubleValue();
}

std::string text(const Napi::Value& v) {
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
}

Napi::Value LibraryVersion(const Napi::CallbackInfo& info) {
  // Allowed before MPI_Init (MPI 3.0, section 8.1.1).
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  std::string s(version, len);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return Napi::String::New(info.Env(), s);
}

// armWatchdog(timeoutS, what) / disarmWatchdog(): the same deadline around
// calls outside this module that may block on other ranks (the main addon's
// NCCL calls, src/dist/nccl.ts).
Napi::Value ArmWatchdog(const Napi::CallbackInfo& info) {
  armWatchdog(seconds(info.Env(), info[0], "armWatchdog"), text(info[1]));
  return info.Env().Undefined();
}

Napi::Value DisarmWatchdog(const Napi::CallbackInfo& info) {
  disarmWatchdog();
  return info.Env().Undefined();
}

// Makes the libmpi this module was linked against RTLD_GLOBAL (see the top).
std::string promoteLibmpi() {
  Dl_info dl{};
  if (!dladdr(reinterpret_cast<void*>(&MPI_Init_thread), &dl) || !dl.dli_fname)
    return "dladdr found no library for MPI_Init_thread";
  if (!dlopen(dl.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD))
    return std::string("dlopen(") + dl.dli_fname + ", RTLD_GLOBAL) failed: " + dlerror();
  return dl.dli_fname;
}

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (gInitialized) throw Napi::Error::New(env, "init: MPI is already initialised");
  std::string library = promoteLibmpi();
  int provided = 0;
  check(env, MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  gInitialized = true;
  gMpiThread = std::this_thread::get_id();
  // Errors come back as return codes (then JS errors), not as MPI's abort.
  check(env, MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  int rank = 0, size = 1;
  check(env, MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
  check(env, MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size");
  Napi::Object o = Napi::Object::New(env);
  o.Set("rank", rank);
  o.Set("size", size);
  o.Set("funneled", provided >= MPI_THREAD_FUNNELED);
  o.Set("library", library);
  return o;
}

// exchangeHeaders(header: Float64Array(n), table: Float64Array(n * size), timeoutS): number[]
Napi::Value ExchangeHeaders(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireMpiThread(env, "exchangeHeaders");
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsTypedArray())
    throw Napi::TypeError::New(env, "exchangeHeaders(header, table, timeoutS)");
  auto header = info[0].As<Napi::Float64Array>();
  auto table = info[1].As<Napi::Float64Array>();
  int size = 1;
  check(env, MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size");
  if (header.TypedArrayType() != napi_float64_array ||
      table.TypedArrayType() != napi_float64_array ||
      table.ElementLength() != header.ElementLength() * static_cast<size_t>(size))
    throw Napi::TypeError::New(
        env, "exchangeHeaders: header and table must be Float64Arrays of n and n * size");
  std::vector<int> missing;
  try {
    missing =
        exchangeHeaders(MPI_COMM_WORLD, header.Data(), static_cast<int>(header.ElementLength()),
                        table.Data(), seconds(env, info[2], "exchangeHeaders"));
  } catch (const std::runtime_error& e) {
    throw Napi::Error::New(env, e.what());
  }
  Napi::Array out = Napi::Array::New(env, missing.size());
  for (size_t i = 0; i < missing.size(); ++i) out.Set(static_cast<uint32_t>(i), missing[i]);
  return out;
}

// allReduceSum(buf, bucketElements, timeoutS, what): in place, in buckets.
Napi::Value AllReduceSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireMpiThread(env, "allReduceSum");
  Buffer b = typedBuffer(env, info[0], "allReduceSum", "buffer");
  int64_t bucket = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
  if (bucket < 1) throw Napi::RangeError::New(env, "allReduceSum: bucketElements must be >= 1");
  int elementSize = 0;
  MPI_Type_size(b.type, &elementSize);
  WatchdogScope guard(seconds(env, info[2], "allReduceSum"), text(info[3]));
  for (int64_t start = 0; start < b.count; start += bucket) {
    int n = static_cast<int>(std::min<int64_t>(bucket, b.count - start));
    check(env,
          MPI_Allreduce(MPI_IN_PLACE, static_cast<uint8_t*>(b.data) + start * elementSize, n,
                        b.type, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce");
  }
  return env.Undefined();
}

// broadcast(buf, root, timeoutS, what)
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireMpiThread(env, "broadcast");
  Buffer b = typedBuffer(env, info[0], "broadcast", "buffer");
  int root = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
  WatchdogScope guard(seconds(env, info[2], "broadcast"), text(info[3]));
  check(env, MPI_Bcast(b.data, b.count, b.type, root, MPI_COMM_WORLD), "MPI_Bcast");
  return env.Undefined();
}

// allgatherv(send, recv, counts: Float64Array(size), timeoutS, what)
Napi::Value Allgatherv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireMpiThread(env, "allgatherv");
  Buffer s = typedBuffer(env, info[0], "allgatherv", "send");
  Buffer r = typedBuffer(env, info[1], "allgatherv", "recv");
  if (s.type != r.type)
    throw Napi::TypeError::New(env, "allgatherv: send and recv differ in element type");
  if (!info[2].IsTypedArray())
    throw Napi::TypeError::New(env, "allgatherv: counts must be a Float64Array");
  auto countsJs = info[2].As<Napi::Float64Array>();
  int size = 1;
  check(env, MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size");
  if (countsJs.ElementLength() != static_cast<size_t>(size))
    throw Napi::RangeError::New(env, "allgatherv: counts must have one entry per rank");
  std::vector<int> counts(size), displs(size);
  int64_t total = 0;
  for (int i = 0; i < size; ++i) {
    counts[i] = static_cast<int>(countsJs[i]);
    displs[i] = static_cast<int>(total);
    total += counts[i];
  }
  if (total != r.count || total > INT_MAX)
    throw Napi::RangeError::New(env, "allgatherv: recv length must equal the sum of the counts");
  WatchdogScope guard(seconds(env, info[3], "allgatherv"), text(info[4]));
  check(env,
        MPI_Allgatherv(s.data, s.count, s.type, r.data, counts.data(), displs.data(), r.type,
                       MPI_COMM_WORLD),
        "MPI_Allgatherv");
  return env.Undefined();
}

// abort(code): takes every rank of the job down (the launcher reports this rank).
Napi::Value Abort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireMpiThread(env, "abort");
  int code = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  MPI_Abort(MPI_COMM_WORLD, code);
  return env.Undefined();
}

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireMpiThread(env, "finalize");
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) check(env, MPI_Finalize(), "MPI_Finalize");
  return env.Undefined();
}

Napi::Object Register(Napi::Env env, Napi::Object exports) {
  exports.Set("libraryVersion", Napi::Function::New(env, LibraryVersion));
  exports.Set("armWatchdog", Napi::Function::New(env, ArmWatchdog));
  exports.Set("disarmWatchdog", Napi::Function::New(env, DisarmWatchdog));
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("exchangeHeaders", Napi::Function::New(env, ExchangeHeaders));
  exports.Set("allReduceSum", Napi::Function::New(env, AllReduceSum));
  exports.Set("broadcast", Napi::Function::New(env, Broadcast));
  exports.Set("allgatherv", Napi::Function::New(env, Allgatherv));
  exports.Set("abort", Napi::Function::New(env, Abort));
  exports.Set("finalize", Napi::Function::New(env, Finalize));
  return exports;
}

}  // namespace
}  // namespace cskd::mpi

static Napi::Object RegisterModule(Napi::Env env, Napi::Object exports) {
  return cskd::mpi::Register(env, exports);
}

NODE_API_MODULE(cskd_mpi, RegisterModule)
