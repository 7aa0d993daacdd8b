#pragma once
// The operators on modelgate's hot paths. This version implements each one as a
// composition of plain ATen ops; it is the reference (and later the test oracle) for the
// dedicated CPU and CUDA kernels.
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace modelgate::kernels {

/// In place on `x`: x ← clamp(min(max(x + alpha·sign(grad), x0 − eps), x0 + eps), 0, 1).
/// All three tensors must have the same shape, dtype and device.
void linf_step_(const at::Tensor& x, const at::Tensor& grad, const at::Tensor& x0, double alpha,
                double eps);

/// OpenCV's default sigma for a k-tap Gaussian: 0.3·((k−1)·0.5 − 1) + 0.8.
double default_blur_sigma(int64_t k);

/// The normalised 1-D Gaussian taps for an odd `k`; sigma ≤ 0 selects default_blur_sigma(k).
std::vector<float> gaussian_taps(int64_t k, double sigma);

/// k×k Gaussian blur of an N×C×H×W float tensor, per channel and separable (rows, then
/// columns), with reflect-101 borders. Throws std::invalid_argument for an even k or a
/// kernel wider than the image allows.
at::Tensor gaussian_blur(const at::Tensor& x, int64_t k, double sigma);

/// clamp(x + N(0, level²), 0, 1). Sample i of the batch draws its noise from a stream keyed
/// by (seed, first_index + i), so a sample's noise does not depend on the batch size or the
/// device.
at::Tensor gaussian_noise(const at::Tensor& x, double level, uint64_t seed, int64_t first_index);

/// Uniform noise in [−eps, eps], keyed like gaussian_noise (used for PGD's random start).
at::Tensor uniform_ball(const at::Tensor& x, double eps, uint64_t seed, int64_t first_index);

}  // namespace modelgate::kernels
