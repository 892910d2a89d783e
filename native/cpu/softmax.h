// Row softmax with an optional temperature: y = softmax(x / T) over each row.
// Backward: dx = (y * (dy - sum(y * dy))) / T.
#pragma once
#include <cstdint>

namespace cskd::cpu {

void softmaxForward(const float* x, float* y, int64_t rows, int64_t cols, float temperature);

// The row primitives every softmax in the library is built from (the op
// above, attention's probabilities, the score head's EMD), serial, one copy.

// e = exp((x - rowmax(x)) * invT) for a block of rows, the exponentials as one
// flat vector loop: rows as short as K = 10 bins would otherwise leave vexp in
// the scalar remainder of every row. In place when e == x.
void expShiftedRows(const float* x, float* e, int64_t rows, int64_t cols, float invT);

// One row in place: softmax with its log-sum-exp written to *lse.
void softmaxRowWithLse(float* row, int64_t n, float* lse);

// One row in place from a known log-sum-exp: row = exp(row - lse).
void expRowMinus(float* row, int64_t n, float lse);
void softmaxBackward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols,
                     float temperature);

}  // namespace cskd::cpu
