#include <cuda_runtime.h>

#include "cuda/device.h"

namespace cskd::cuda {

std::vector<DeviceInfo> listDevices(std::string* reason) {
  std::vector<DeviceInfo> out;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (reason) *reason = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return out;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    DeviceInfo d;
    d.name = prop.name;
    d.major = prop.major;
    d.minor = prop.minor;
    d.totalMemory = prop.totalGlobalMem;
    d.multiprocessors = prop.multiProcessorCount;
    out.push_back(d);
  }
  if (out.empty() && reason && reason->empty()) *reason = "no CUDA device";
  return out;
}

int runtimeVersion() { return CUDART_VERSION; }

}  // namespace cskd::cuda
