// The machine's measured FMA ceiling: independent FMA chains in the widest
// registers the CPU has, on every pool thread, for about `seconds`.
#pragma once

namespace cskd::cpu {

// Returns GFLOP/s (2 flops per lane per FMA) over `threads` threads (0 = pool size).
double measureFmaPeak(double seconds, int threads);

}  // namespace cskd::cpu
