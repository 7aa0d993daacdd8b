#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace modelgate::attacks {

/// Gaussian noise corruption: clamp(x + N(0, level²), 0, 1), seeded per sample by
/// (seed, first_index + i).
at::Tensor gaussian_noise(const at::Tensor& x, double level, uint64_t seed, int64_t first_index);

/// Gaussian blur corruption: k×k, per channel, separable, reflect-101 borders; sigma ≤ 0
/// selects OpenCV's default for k.
at::Tensor gaussian_blur(const at::Tensor& x, int64_t k, double sigma);

}  // namespace modelgate::attacks
