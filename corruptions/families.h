#pragma once
// The corruption families, one sample at a time (benchmark.cpp splits the batch and runs
// samples in parallel). Each reads `in` (C×H×W float in [0, 1]) and writes `out`, the same
// shape, clipped to [0, 1].
#include "corruptions/benchmark.h"
#include "corruptions/random.h"

#include <array>
#include <cstdint>

namespace modelgate::corruptions {

struct Image {
  const float* in;
  float* out;
  int64_t c, h, w;
  int64_t plane() const { return h * w; }
  int64_t size() const { return c * h * w; }
};

/// A severity's parameter from a table: values[table][severity - 1].
template <typename T>
using Params = std::array<std::array<T, 5>, 2>;
template <typename T>
const T& pick(const Params<T>& p, Table t, int severity) {
  return p[static_cast<size_t>(t)][static_cast<size_t>(severity - 1)];
}

/// gaussian_noise, shot_noise, impulse_noise, speckle_noise (noise.cpp).
void apply_noise(Corruption c, int severity, Table t, const Image& im, const SampleStream& rng);
/// brightness, contrast, saturate (colour.cpp).
void apply_colour(Corruption c, int severity, Table t, const Image& im);
/// gaussian_blur, defocus_blur (blur.cpp).
void apply_blur(Corruption c, int severity, Table t, const Image& im);
/// pixelate, jpeg_compression (pixel.cpp).
void apply_pixel(Corruption c, int severity, Table t, const Image& im);

inline float clip01(double v) { return static_cast<float>(v < 0 ? 0 : (v > 1 ? 1 : v)); }

}  // namespace modelgate::corruptions
