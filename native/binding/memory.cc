// Native memory for tensors: 64-byte aligned blocks handed to JS as external
// ArrayBuffers. V8 is told the block's size so the GC weighs it, and frees it
// through the finalizer when the last view is gone.
#include <cstdlib>
#include <cstring>

#include "binding/args.h"

namespace cskd::binding {
namespace {

struct Block {
  size_t bytes;
};

Napi::Value Allocate(const Napi::CallbackInfo& info) {
  Args a(info, "allocate");
  const int64_t bytes = a.i64(0, "bytes");
  const size_t rounded = ((static_cast<size_t>(bytes) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (!p) a.fail("out of memory allocating " + std::to_string(bytes) + " bytes", false);
  std::memset(p, 0, rounded == 0 ? 64 : rounded);
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), static_cast<int64_t>(rounded));
  return Napi::ArrayBuffer::New(
      info.Env(), p, static_cast<size_t>(bytes),
      [](Napi::Env env, void* data, Block* block) {
        Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(block->bytes));
        std::free(data);
        delete block;
      },
      new Block{rounded});
}

}  // namespace

void registerMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("allocate", Napi::Function::New(env, Allocate, "allocate"));
}

}  // namespace cskd::binding
