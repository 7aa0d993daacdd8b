#pragma once
// Plain-ATen reference implementations of every operator in kernels/ops.h: registered as the
// fallback for devices without a dedicated kernel, and the oracle the kernels are tested
// against. Same contracts as kernels/ops.h.
#include <ATen/ATen.h>

#include <cstdint>

namespace modelgate::kernels::ref {

at::Tensor& linf_step_(at::Tensor& x, const at::Tensor& grad, const at::Tensor& x0, double alpha, double eps);
at::Tensor& l2_step_(at::Tensor& x, const at::Tensor& grad, const at::Tensor& x0, double alpha, double eps);
at::Tensor gaussian_noise(const at::Tensor& x, double level, int64_t seed, int64_t first_index);
at::Tensor uniform_ball(const at::Tensor& x, double eps, int64_t seed, int64_t first_index);
at::Tensor philox_bits(const at::Tensor& x, int64_t seed, int64_t first_index);
at::Tensor gaussian_blur(const at::Tensor& x, int64_t k, double sigma);
at::Tensor sign_sketch(const at::Tensor& x, int64_t bits, int64_t seed);

/// Philox4x32-10 on tensors: `counter` is int64 [..., 4] holding 32-bit words, `key` the two
/// key words as one 64-bit value (low word first, as philox::draw keys by the seed). Returns
/// the output words, int64 [..., 4]. Written with ATen integer ops, independently of
/// kernels/philox.h, so that it can check that code.
at::Tensor philox4x32_10(const at::Tensor& counter, uint64_t key);

}  // namespace modelgate::kernels::ref
