// Token assembly and pooling around the transformer blocks.
//
// embedTokens: out[b, 0] = cls + pos[0]; out[b, 1 + i] = patches[b, i] + pos[1 + i].
//   patches [B, P, E], cls [E], pos [P + 1, E], out [B, P + 1, E].
//   Backward writes dpatches and adds into dcls and dpos.
// clsPool: out[b] = x[b, 0]; meanPool: out[b] = mean over tokens [start, N).
//   Their backwards write the whole dx (zeros where the pool did not look).
#pragma once
#include <cstdint>

namespace cskd::cpu {

void embedTokensForward(const float* patches, const float* cls, const float* pos, float* out,
                        int64_t B, int64_t P, int64_t E);
void embedTokensBackward(const float* dout, float* dpatches, float* dcls, float* dpos, int64_t B,
                         int64_t P, int64_t E);

void clsPoolForward(const float* x, float* out, int64_t B, int64_t N, int64_t E);
void clsPoolBackward(const float* dout, float* dx, int64_t B, int64_t N, int64_t E);
void meanPoolForward(const float* x, float* out, int64_t B, int64_t N, int64_t E, int64_t start);
void meanPoolBackward(const float* dout, float* dx, int64_t B, int64_t N, int64_t E, int64_t start);

}  // namespace cskd::cpu
