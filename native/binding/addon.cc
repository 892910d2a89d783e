// The one export table of the addon. Each op family registers its functions
// from its own file (memory.cc, gemm.cc, attention.cc, ...).
#include <napi.h>

#include "binding/args.h"

namespace cskd::binding {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  registerMemory(env, exports);
  registerInfo(env, exports);
  registerGemm(env, exports);
  registerAttention(env, exports);
  registerNorms(env, exports);
  registerElementwise(env, exports);
  registerEmbedding(env, exports);
  registerLosses(env, exports);
  registerOptim(env, exports);
  registerResample(env, exports);
  registerDevice(env, exports);
  registerNccl(env, exports);
  return exports;
}

NODE_API_MODULE(cskd, Init)

}  // namespace cskd::binding
