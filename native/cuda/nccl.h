// NCCL, loaded at run time, for the collectives over device tensors
// (src/dist/nccl.ts).
//
// As with cuBLASLt (cublaslt.h), nothing links NCCL and no build needs its
// headers: the few entry points used are declared from NCCL's published C ABI
// (nccl.h) in nccl.cu and looked up with dlopen/dlsym on first use. Search
// order: $CSKD_NCCL (a path or soname; then only that one; "off" disables
// NCCL), else libnccl.so.2, libnccl.so on the loader's path (for the pip
// wheel nvidia-nccl-cu13, add its lib/ folder to LD_LIBRARY_PATH).
//
// One communicator per process, on one device. The main addon never links MPI:
// the caller generates the unique id on rank 0 (ncclNewUniqueId), broadcasts
// it over MPI itself, and passes it to ncclStart on every rank.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace cskd::cuda {

constexpr size_t kNcclUniqueIdBytes = 128;  // NCCL_UNIQUE_ID_BYTES

struct NcclStatus {
  bool found = false;
  int version = 0;      // NCCL_VERSION_CODE: major * 10000 + minor * 100 + patch
  std::string library;  // what was opened
  std::string reason;   // why not, when !found
};

// Whether NCCL loads here (the load happens once; later calls repeat its result).
NcclStatus ncclStatus();

// Rank 0's id for ncclStart (throws CudaError when NCCL is missing or fails).
void ncclNewUniqueId(uint8_t out[kNcclUniqueIdBytes]);
// Joins the communicator of `nranks` on `device`: blocks until every rank has
// called it with the same id. Throws if one is already started.
void ncclStart(int device, const uint8_t id[kNcclUniqueIdBytes], int nranks, int rank);
// The started communicator's device, or -1.
int ncclDevice();

// In place over the device's stream, float32. Each drains the stream first
// (so a deadline measures the collective, not the kernels queued before it),
// enqueues the collective and waits for it, surfacing NCCL's asynchronous
// errors (a failed peer) as a CudaError. A collective that never ends is the
// caller's watchdog's to catch.
void ncclAllReduceSum(float* x, size_t n, int device);
void ncclBroadcastFrom(float* x, size_t n, int root, int device);

// Ends the communicator: destroy (orderly, all ranks) or abort (this rank alone).
void ncclStop(bool abort);

}  // namespace cskd::cuda
