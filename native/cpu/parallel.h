// One thread pool for every CPU kernel.
//
// Sized to the machine's cores (CSKD_NUM_THREADS overrides). Workers spin briefly
// and then sleep, so an idle pool costs nothing and does not compete with
// another library's threads (OpenBLAS, onnxruntime) while they work. A call made
// while the pool is busy (from a second JS worker thread, or nested inside a
// kernel) runs serially on the caller instead of waiting.
#pragma once
#include <cstdint>
#include <functional>

namespace cskd {

int numThreads();
void setNumThreads(int n);

// Calls fn(begin, end) over disjoint chunks covering [0, n); each chunk holds at
// least `grain` items except possibly the last. Returns when all chunks are done.
void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace cskd
