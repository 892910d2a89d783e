// What the CPU offers, read once with cpuid (and xgetbv, so an OS that does not
// save the wide registers is not mistaken for a capable one).
#pragma once

namespace cskd {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512bf16 = false;
  bool avx512vnni = false;
  bool amxTile = false;
};

const CpuFeatures& cpuFeatures();

}  // namespace cskd
