// Whether NCCL can be loaded here. NCCL is opened at run time, as cuBLASLt is
// (native/cuda/cublaslt.cu), so no build links it; this only asks for its
// version, for `cskd info`.
#pragma once

#include <string>

namespace cskd::mpi {

struct NcclProbe {
  bool found = false;
  int version = 0;  // NCCL_VERSION_CODE, e.g. 22105 for 2.21.5
  std::string library;
  std::string reason;
};

NcclProbe probeNccl();

}  // namespace cskd::mpi
