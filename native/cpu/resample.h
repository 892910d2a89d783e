// One training view from a cached image held as raw RGB pixels: a region of
// the source resampled to size x size with a Catmull-Rom cubic (the kernel the
// sharp path uses), optionally mirrored, rounded to 8 bits as a decoded image
// would be, then normalised to CHW float32. Runs off the JS thread (see
// binding/resample.cc) so cached epochs cost microseconds per image, not a
// libvips pipeline.
#pragma once
#include <cstdint>

namespace cskd::cpu {

// One axis of the mapping: output pixel o (0 <= o < out) samples the source at
// origin + (o + 0.5) * step - 0.5, with the kernel widened by max(1, step) when
// shrinking (antialiasing); source indices outside [lo, hi] clamp to the edge.
struct ResampleAxis {
  double origin, step;
  int64_t lo, hi;
};

struct ViewResample {
  const uint8_t* src;  // HWC RGB, row stride 3 * width
  int64_t width, height;
  ResampleAxis x, y;
  int64_t size;  // output side
  bool flip;     // mirror horizontally
  float mean[3], std[3];
  float* out;  // [3, size, size]
};

void resampleView(const ViewResample& v);

}  // namespace cskd::cpu
