// Native memory for tensors: 64-byte aligned blocks handed to JS as external
// ArrayBuffers. V8 is told the block's size so the GC weighs it. A block is
// freed by the finalizer when the last view is gone, or at once by release()
// (an arena replacing its growth blocks), which also detaches the buffer so
// no view can reach the freed memory.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "binding/args.h"

namespace cskd::binding {
namespace {

struct Block {
  void* data;
  size_t bytes;
  bool freed = false;
};

std::mutex gMutex;
std::unordered_map<void*, Block*> gBlocks;  // live blocks by address, for release()

void freeBlock(Napi::Env env, Block* b) {
  if (b->freed) return;
  b->freed = true;
  std::free(b->data);
  Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(b->bytes));
}

Napi::Value Allocate(const Napi::CallbackInfo& info) {
  Args a(info, "allocate");
  const int64_t bytes = a.i64(0, "bytes");
  const size_t rounded = std::max<size_t>(64, ((static_cast<size_t>(bytes) + 63) / 64) * 64);
  void* p = std::aligned_alloc(64, rounded);
  if (!p) a.fail("out of memory allocating " + std::to_string(bytes) + " bytes", false);
  std::memset(p, 0, rounded);
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), static_cast<int64_t>(rounded));
  Block* block = new Block{p, rounded};
  {
    std::lock_guard<std::mutex> lk(gMutex);
    gBlocks[p] = block;
  }
  return Napi::ArrayBuffer::New(
      info.Env(), p, static_cast<size_t>(bytes),
      [](Napi::Env env, void* data, Block* b) {
        {
          // Only this block's entry: after release() the address may belong to a new block.
          std::lock_guard<std::mutex> lk(gMutex);
          auto it = gBlocks.find(data);
          if (it != gBlocks.end() && it->second == b) gBlocks.erase(it);
        }
        freeBlock(env, b);
        delete b;
      },
      block);
}

// release(buffer): frees a block from allocate() now and detaches the buffer.
Napi::Value Release(const Napi::CallbackInfo& info) {
  Args a(info, "release");
  if (!info[0].IsArrayBuffer()) a.fail("buffer must be an ArrayBuffer from allocate()", true);
  Napi::ArrayBuffer buf = info[0].As<Napi::ArrayBuffer>();
  void* data = buf.Data();
  Block* block = nullptr;
  {
    std::lock_guard<std::mutex> lk(gMutex);
    auto it = gBlocks.find(data);
    if (it != gBlocks.end()) {
      block = it->second;
      gBlocks.erase(it);
    }
  }
  if (!block) a.fail("buffer was not allocated by allocate() or was already released", false);
  buf.Detach();
  freeBlock(info.Env(), block);
  return info.Env().Undefined();
}

}  // namespace

void registerMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("allocate", Napi::Function::New(env, Allocate, "allocate"));
  exports.Set("release", Napi::Function::New(env, Release, "release"));
}

}  // namespace cskd::binding
