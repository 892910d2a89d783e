// CUDA devices as the runtime sees them. Safe to call on a machine with no GPU
// or no driver: the list is then empty and `reason` says why.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace cskd::cuda {

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;
  std::size_t totalMemory = 0;
  int multiprocessors = 0;
};

std::vector<DeviceInfo> listDevices(std::string* reason);
// Version of the CUDA runtime compiled in (e.g. 13000).
int runtimeVersion();

}  // namespace cskd::cuda
