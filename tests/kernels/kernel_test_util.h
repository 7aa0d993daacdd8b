#pragma once
// Shared helpers for the kernel tests: the two ways of calling the operator set on CPU tensors
// (the plain-ATen reference directly, and the dispatcher, which picks the CPU kernel), seeded
// inputs, and the tolerances the comparisons use.
#include "kernels/ops.h"
#include "kernels/reference_ops.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <functional>
#include <ostream>
#include <string>

namespace modelgate::kernels::testing {

/// One implementation of every operator, callable with the public (ops.h) argument types.
struct Impl {
  std::string name;
  std::function<at::Tensor&(at::Tensor&, const at::Tensor&, const at::Tensor&, double, double)> linf_step_;
  std::function<at::Tensor&(at::Tensor&, const at::Tensor&, const at::Tensor&, double, double)> l2_step_;
  std::function<at::Tensor(const at::Tensor&, double, uint64_t, int64_t)> gaussian_noise;
  std::function<at::Tensor(const at::Tensor&, double, uint64_t, int64_t)> uniform_ball;
  std::function<at::Tensor(const at::Tensor&, uint64_t, int64_t)> philox_bits;
  std::function<at::Tensor(const at::Tensor&, int64_t, double)> gaussian_blur;
  std::function<at::Tensor(const at::Tensor&, int64_t, uint64_t)> sign_sketch;
};

/// The plain-ATen reference, called directly.
inline Impl reference_impl() {
  return Impl{"reference",
              ref::linf_step_,
              ref::l2_step_,
              [](const at::Tensor& x, double l, uint64_t s, int64_t f) {
                return ref::gaussian_noise(x, l, static_cast<int64_t>(s), f);
              },
              [](const at::Tensor& x, double e, uint64_t s, int64_t f) {
                return ref::uniform_ball(x, e, static_cast<int64_t>(s), f);
              },
              [](const at::Tensor& x, uint64_t s, int64_t f) { return ref::philox_bits(x, static_cast<int64_t>(s), f); },
              ref::gaussian_blur,
              [](const at::Tensor& x, int64_t b, uint64_t s) { return ref::sign_sketch(x, b, static_cast<int64_t>(s)); }};
}

/// The public entry points: through the dispatcher, so CPU tensors reach the CPU kernels.
inline Impl dispatcher_impl() {
  return Impl{"dispatcher",     kernels::linf_step_,    kernels::l2_step_,       kernels::gaussian_noise,
              kernels::uniform_ball, kernels::philox_bits, kernels::gaussian_blur,
              kernels::sign_sketch};
}

inline std::ostream& operator<<(std::ostream& os, const Impl& impl) { return os << impl.name; }

/// Uniform [0, 1) float32 values from a seeded generator.
inline at::Tensor rand(at::IntArrayRef sizes, uint64_t seed) {
  return at::rand(sizes, at::make_generator<at::CPUGeneratorImpl>(seed));
}

/// Standard normal float32 values from a seeded generator.
inline at::Tensor randn(at::IntArrayRef sizes, uint64_t seed) {
  return at::randn(sizes, at::make_generator<at::CPUGeneratorImpl>(seed));
}

/// Largest absolute difference, as double (0 for empty tensors).
inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  if (a.numel() == 0) return 0;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Tolerances, Faiss style: stated once, used by every comparison.
/// Gaussian noise: z in double on both sides, libms may differ by an ulp before the float cast;
/// outputs lie in [0, 1], where 4 float ulps are at most 4·2^-24.
constexpr double kNoiseAbsTol = 4.0 / 16777216.0;
/// Blur: float32 sums in a different order.
constexpr double kFloatSumTol = 1e-5;
/// L2 step: norms reduced in a different order, then a few float32 operations.
constexpr double kL2StepTol = 1e-6;

}  // namespace modelgate::kernels::testing
