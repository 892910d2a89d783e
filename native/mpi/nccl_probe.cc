// dlopen of libnccl for `cskd info` (see nccl_probe.h).
#include "mpi/nccl_probe.h"

#include <dlfcn.h>

#include <cstdlib>
#include <vector>

namespace cskd::mpi {

NcclProbe probeNccl() {
  NcclProbe p;
  std::vector<std::string> names;
  if (const char* env = std::getenv("CSKD_NCCL")) names.emplace_back(env);
  names.insert(names.end(), {"libnccl.so.2", "libnccl.so"});
  void* lib = nullptr;
  for (const auto& n : names) {
    lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib) {
      p.library = n;
      break;
    }
  }
  if (!lib) {
    p.reason = "libnccl.so.2 not found (set CSKD_NCCL or LD_LIBRARY_PATH)";
    return p;
  }
  // ncclResult_t ncclGetVersion(int*): NCCL's published C ABI (nccl.h); the
  // result enum is an int and ncclSuccess is 0.
  using GetVersion = int (*)(int*);
  auto getVersion = reinterpret_cast<GetVersion>(dlsym(lib, "ncclGetVersion"));
  if (!getVersion) {
    p.reason = p.library + " has no ncclGetVersion";
  } else if (getVersion(&p.version) != 0) {
    p.reason = "ncclGetVersion failed";
  } else {
    p.found = true;
  }
  dlclose(lib);
  return p;
}

}  // namespace cskd::mpi
