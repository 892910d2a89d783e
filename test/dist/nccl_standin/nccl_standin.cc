// A stand-in libnccl for tests, never shipped: the subset of NCCL's C ABI that
// native/cuda/nccl.cu calls, implemented over MPI on host pointers. On the
// emulated device (build-emu) device memory is host memory, so cskd's real NCCL
// path (dlopen, rank 0's unique id broadcast over MPI, ncclCommInitRank, the
// collectives on device tensors) runs under `mpirun -np 2` with no GPU.
//
// Unlike NCCL it runs each collective at the call, on the calling thread (MPI
// is FUNNELED to that thread), ignoring the stream: it is correct only because
// cskd drains the stream before each collective. It checks what real NCCL
// would hang or fail on: every rank must pass the same unique id (so the id
// must really be broadcast), and nranks/rank must be MPI's.
//
// Test knobs: CSKD_NCCL_STANDIN_LOG=1 prints each call to stderr (to show the
// NCCL route was taken); CSKD_NCCL_STANDIN_HANG_RANK=r makes rank r's
// collectives never return (a hung NCCL kernel, for the deadline).
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

extern "C" {

typedef int ncclResult_t;
typedef struct {
  char internal[128];
} ncclUniqueId;
typedef struct StandinComm* ncclComm_t;
typedef void* cudaStream_t;

}  // extern "C"

struct StandinComm {
  MPI_Comm mpi;
  int rank, size;
};

namespace {

constexpr ncclResult_t kSuccess = 0, kSystemError = 2, kInvalidArgument = 4, kInvalidUsage = 5;
constexpr int kFloat32 = 7, kFloat64 = 8, kSum = 0;
thread_local std::string gLastError;

ncclResult_t fail(ncclResult_t r, const std::string& why) {
  gLastError = why;
  std::fprintf(stderr, "nccl stand-in: %s\n", why.c_str());
  return r;
}

void log(const StandinComm* c, const char* what, size_t count) {
  const char* on = std::getenv("CSKD_NCCL_STANDIN_LOG");
  if (on && std::strcmp(on, "1") == 0)
    std::fprintf(stderr, "nccl stand-in: rank %d %s x %zu\n", c->rank, what, count);
}

void maybeHang(const StandinComm* c) {
  const char* r = std::getenv("CSKD_NCCL_STANDIN_HANG_RANK");
  if (r && std::atoi(r) == c->rank)
    for (;;) pause();
}

bool mpiType(int dtype, MPI_Datatype* t, size_t* bytes) {
  if (dtype == kFloat32)
    *t = MPI_FLOAT, *bytes = 4;
  else if (dtype == kFloat64)
    *t = MPI_DOUBLE, *bytes = 8;
  else
    return false;
  return true;
}

}  // namespace

extern "C" {

ncclResult_t ncclGetVersion(int* version) {
  *version = 22105;  // the ABI it follows: NCCL 2.21.5
  return kSuccess;
}

const char* ncclGetErrorString(ncclResult_t r) {
  switch (r) {
    case kSuccess:
      return "no error";
    case kSystemError:
      return "unhandled system error";
    case kInvalidArgument:
      return "invalid argument";
    case kInvalidUsage:
      return "invalid usage";
    default:
      return "unknown result code";
  }
}

const char* ncclGetLastError(ncclComm_t) { return gLastError.c_str(); }

// Different on every call and every process, as NCCL's is.
ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  std::memset(id->internal, 0, sizeof id->internal);
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  static int calls = 0;
  std::snprintf(id->internal, sizeof id->internal, "cskd-standin pid %d t %ld.%09ld #%d",
                static_cast<int>(getpid()), static_cast<long>(ts.tv_sec), ts.tv_nsec, ++calls);
  return kSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t* out, int nranks, ncclUniqueId id, int rank) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return fail(kSystemError, "MPI is not initialised in this process");
  int size = 0, me = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  if (nranks != size || rank != me)
    return fail(kInvalidArgument, "rank " + std::to_string(rank) + " of " + std::to_string(nranks) +
                                      " is not MPI's rank " + std::to_string(me) + " of " +
                                      std::to_string(size));
  auto* c = new StandinComm{MPI_COMM_NULL, me, size};
  MPI_Comm_dup(MPI_COMM_WORLD, &c->mpi);
  // Real NCCL hangs when the ids differ; here every rank learns it and fails.
  ncclUniqueId root = id;
  MPI_Bcast(root.internal, sizeof root.internal, MPI_BYTE, 0, c->mpi);
  int differs = std::memcmp(root.internal, id.internal, sizeof id.internal) != 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &differs, 1, MPI_INT, MPI_MAX, c->mpi);
  if (differs) {
    MPI_Comm_free(&c->mpi);
    delete c;
    return fail(kInvalidUsage,
                "the ranks passed different unique ids (rank 0's must be broadcast)");
  }
  *out = c;
  return kSuccess;
}

ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, int dtype, int op,
                           ncclComm_t c, cudaStream_t) {
  MPI_Datatype t;
  size_t bytes;
  if (!mpiType(dtype, &t, &bytes) || op != kSum)
    return fail(kInvalidArgument, "only float32/float64 sums are stood in for");
  log(c, "allReduce", count);
  maybeHang(c);
  const void* src = send == recv ? MPI_IN_PLACE : send;
  if (MPI_Allreduce(src, recv, static_cast<int>(count), t, MPI_SUM, c->mpi) != MPI_SUCCESS)
    return fail(kSystemError, "MPI_Allreduce failed");
  return kSuccess;
}

ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, int dtype, int root,
                           ncclComm_t c, cudaStream_t) {
  MPI_Datatype t;
  size_t bytes;
  if (!mpiType(dtype, &t, &bytes)) return fail(kInvalidArgument, "only float32/float64");
  log(c, "broadcast", count);
  maybeHang(c);
  if (c->rank == root && send != recv) std::memcpy(recv, send, count * bytes);
  if (MPI_Bcast(recv, static_cast<int>(count), t, root, c->mpi) != MPI_SUCCESS)
    return fail(kSystemError, "MPI_Bcast failed");
  return kSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t, ncclResult_t* r) {
  *r = kSuccess;  // every call completed before it returned
  return kSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t c) {
  MPI_Comm_free(&c->mpi);
  delete c;
  return kSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t c) {
  delete c;  // the duplicate communicator dies with MPI_Abort or the process
  return kSuccess;
}

}  // extern "C"
