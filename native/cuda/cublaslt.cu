// cuBLASLt through dlopen (see cublaslt.h for why).
//
// Row-major C = op(A) op(B) is computed as the column-major product
// C^T = op(B)^T op(A)^T, which needs no data movement: a row-major [R, ld]
// matrix is a column-major [ld-rows x R] one. The bias epilogue adds a vector
// over the rows of the column-major result, which is our bias over columns.
// Algorithms are chosen by cublasLtMatmulAlgoGetHeuristic once per shape and
// cached; the workspace (32 MiB) comes from our allocator, once per device.
// The enum values below are cuBLAS's published ABI (cublas_api.h, cublasLt.h).
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "cuda/allocator.h"
#include "cuda/common.h"
#include "cuda/cublaslt.h"

namespace cskd::cuda {
namespace {

using Status = int;  // cublasStatus_t; 0 = success
using Handle = void*;
using MatmulDesc = void*;
using Layout = void*;
using Preference = void*;
struct Algo {
  uint64_t data[8];
};
struct HeuristicResult {
  Algo algo;
  size_t workspaceSize;
  Status state;
  float wavesCount;
  int reserved[4];
};

constexpr int kCompute32F = 68, kCompute32FFast16BF = 75;
constexpr int kR32F = 0;  // CUDA_R_32F
constexpr int kOpN = 0, kOpT = 1;
constexpr int kDescTransA = 3, kDescTransB = 4, kDescEpilogue = 7, kDescBiasPointer = 8;
constexpr int kEpilogueDefault = 1, kEpilogueBias = 4;
constexpr int kLayoutBatchCount = 5, kLayoutStridedBatchOffset = 6;
constexpr int kPrefMaxWorkspace = 1;
constexpr size_t kWorkspaceBytes = size_t(32) << 20;

struct Api {
  void* lib = nullptr;
  std::string name, error;
  Handle handle = nullptr;
  Status (*create)(Handle*);
  Status (*descCreate)(MatmulDesc*, int, int);
  Status (*descDestroy)(MatmulDesc);
  Status (*descSet)(MatmulDesc, int, const void*, size_t);
  Status (*layoutCreate)(Layout*, int, uint64_t, uint64_t, int64_t);
  Status (*layoutDestroy)(Layout);
  Status (*layoutSet)(Layout, int, const void*, size_t);
  Status (*prefCreate)(Preference*);
  Status (*prefDestroy)(Preference);
  Status (*prefSet)(Preference, int, const void*, size_t);
  Status (*heuristic)(Handle, MatmulDesc, Layout, Layout, Layout, Layout, Preference, int,
                      HeuristicResult*, int*);
  Status (*matmul)(Handle, MatmulDesc, const void*, const void*, Layout, const void*, Layout,
                   const void*, const void*, Layout, void*, Layout, const Algo*, void*, size_t,
                   cudaStream_t);
};

template <typename F>
bool bind(Api& api, F& fn, const char* sym) {
  fn = reinterpret_cast<F>(dlsym(api.lib, sym));
  if (!fn) api.error = std::string("missing symbol ") + sym;
  return fn != nullptr;
}

Api& api() {
  static Api a;
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> names;
    if (const char* env = std::getenv("CSKD_CUBLASLT")) names.push_back(env);
    names.insert(names.end(), {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"});
    for (const auto& n : names) {
      a.lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (a.lib) {
        a.name = n;
        break;
      }
    }
    if (!a.lib) {
      a.error = "libcublasLt not found (set CSKD_CUBLASLT or LD_LIBRARY_PATH)";
      return;
    }
    bool ok = bind(a, a.create, "cublasLtCreate") &&
              bind(a, a.descCreate, "cublasLtMatmulDescCreate") &&
              bind(a, a.descDestroy, "cublasLtMatmulDescDestroy") &&
              bind(a, a.descSet, "cublasLtMatmulDescSetAttribute") &&
              bind(a, a.layoutCreate, "cublasLtMatrixLayoutCreate") &&
              bind(a, a.layoutDestroy, "cublasLtMatrixLayoutDestroy") &&
              bind(a, a.layoutSet, "cublasLtMatrixLayoutSetAttribute") &&
              bind(a, a.prefCreate, "cublasLtMatmulPreferenceCreate") &&
              bind(a, a.prefDestroy, "cublasLtMatmulPreferenceDestroy") &&
              bind(a, a.prefSet, "cublasLtMatmulPreferenceSetAttribute") &&
              bind(a, a.heuristic, "cublasLtMatmulAlgoGetHeuristic") &&
              bind(a, a.matmul, "cublasLtMatmul");
    if (ok && a.create(&a.handle) != 0) {
      a.error = "cublasLtCreate failed";
      ok = false;
    }
    if (!ok) {
      a.handle = nullptr;
      a.name.clear();
    }
  });
  return a;
}

void check(Status s, const char* what) {
  if (s != 0)
    throw CudaError(std::string("cuBLASLt ") + what + " failed, status " + std::to_string(s));
}

// Everything that decides the descriptors and the algorithm.
using Key = std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t>;

struct Plan {
  MatmulDesc desc = nullptr;
  Layout a = nullptr, b = nullptr, c = nullptr;
  Algo algo{};
  bool ok = false;
};

}  // namespace

bool cublasLtAvailable(std::string* reason) {
  Api& a = api();
  if (!a.handle && reason) *reason = a.error;
  return a.handle != nullptr;
}

std::string cublasLtLibrary() { return api().name; }

bool cublasLtGemm(const cpu::GemmParams& p, bool bf16Compute, cudaStream_t stream) {
  Api& a = api();
  if (!a.handle) return false;
  if (p.bias && p.batch > 1) return false;  // bias epilogue broadcast over batches not used
  static std::mutex mu;
  static std::map<Key, Plan> plans;
  static std::map<int, void*> workspaces;
  std::lock_guard<std::mutex> lock(mu);
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  // Pointer alignment is part of the key: an algorithm chosen for 16-byte
  // aligned operands may refuse less aligned ones.
  const int align = int((reinterpret_cast<uintptr_t>(p.A) | reinterpret_cast<uintptr_t>(p.B) |
                         reinterpret_cast<uintptr_t>(p.C) | reinterpret_cast<uintptr_t>(p.bias)) &
                        15);
  const int flags = (device * 16 + align) * 16 + (bf16Compute ? 8 : 0) + (p.transA ? 4 : 0) +
                    (p.transB ? 2 : 0) + (p.bias ? 1 : 0);
  Key key{flags, p.M, p.N, p.K, p.lda, p.ldb, p.ldc, p.batch, p.strideA, p.strideB, p.strideC};
  auto it = plans.find(key);
  if (it == plans.end()) {
    Plan plan;
    // Column-major view: D[N x M] = op_b(B) [N x K] * op_a(A) [K x M]
    const int opA = p.transB ? kOpT : kOpN;  // first operand is our B
    const int opB = p.transA ? kOpT : kOpN;  // second operand is our A
    check(a.descCreate(&plan.desc, bf16Compute ? kCompute32FFast16BF : kCompute32F, kR32F),
          "MatmulDescCreate");
    check(a.descSet(plan.desc, kDescTransA, &opA, sizeof(opA)), "set TRANSA");
    check(a.descSet(plan.desc, kDescTransB, &opB, sizeof(opB)), "set TRANSB");
    const uint32_t epi = p.bias ? kEpilogueBias : kEpilogueDefault;
    check(a.descSet(plan.desc, kDescEpilogue, &epi, sizeof(epi)), "set EPILOGUE");
    if (p.bias) check(a.descSet(plan.desc, kDescBiasPointer, &p.bias, sizeof(p.bias)), "set BIAS");
    // Layouts (rows, cols) in column-major terms.
    const uint64_t aRows = p.transB ? p.K : p.N, aCols = p.transB ? p.N : p.K;
    const uint64_t bRows = p.transA ? p.M : p.K, bCols = p.transA ? p.K : p.M;
    check(a.layoutCreate(&plan.a, kR32F, aRows, aCols, p.ldb), "LayoutCreate");
    check(a.layoutCreate(&plan.b, kR32F, bRows, bCols, p.lda), "LayoutCreate");
    check(a.layoutCreate(&plan.c, kR32F, p.N, p.M, p.ldc), "LayoutCreate");
    if (p.batch > 1) {
      const int32_t count = int32_t(p.batch);
      for (auto [l, s] : {std::pair{plan.a, p.strideB}, std::pair{plan.b, p.strideA},
                          std::pair{plan.c, p.strideC}}) {
        check(a.layoutSet(l, kLayoutBatchCount, &count, sizeof(count)), "set BATCH_COUNT");
        check(a.layoutSet(l, kLayoutStridedBatchOffset, &s, sizeof(s)), "set BATCH_OFFSET");
      }
    }
    Preference pref = nullptr;
    check(a.prefCreate(&pref), "PreferenceCreate");
    const size_t ws = kWorkspaceBytes;
    check(a.prefSet(pref, kPrefMaxWorkspace, &ws, sizeof(ws)), "set MAX_WORKSPACE");
    HeuristicResult result{};
    int found = 0;
    // The heuristic sees this call's bias pointer; later calls replace it.
    Status s =
        a.heuristic(a.handle, plan.desc, plan.a, plan.b, plan.c, plan.c, pref, 1, &result, &found);
    a.prefDestroy(pref);
    plan.ok = s == 0 && found > 0;
    if (plan.ok) plan.algo = result.algo;
    it = plans.emplace(key, plan).first;
  }
  Plan& plan = it->second;
  if (!plan.ok) return false;
  if (p.bias) check(a.descSet(plan.desc, kDescBiasPointer, &p.bias, sizeof(p.bias)), "set BIAS");
  void*& ws = workspaces[device];
  if (!ws) ws = DeviceAllocator::instance().allocate(kWorkspaceBytes);
  check(a.matmul(a.handle, plan.desc, &p.alpha, p.B, plan.a, p.A, plan.b, &p.beta, p.C, plan.c, p.C,
                 plan.c, &plan.algo, ws, kWorkspaceBytes, stream),
        "Matmul");
  return true;
}

}  // namespace cskd::cuda
