#include "kernels/ops.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace modelgate::kernels {
namespace {

// SplitMix64 finaliser: decorrelates neighbouring (seed, index) pairs so that each sample
// gets an independent generator state.
uint64_t mix(uint64_t seed, uint64_t index) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Per-sample draws happen on the CPU generator so that CPU and CUDA runs see the same values.
template <typename Draw>
at::Tensor per_sample(const at::Tensor& x, uint64_t seed, int64_t first_index, Draw draw) {
  auto opts = x.options().device(at::kCPU).dtype(at::kFloat);
  auto out = at::empty(x.sizes(), opts);
  for (int64_t i = 0; i < x.size(0); ++i) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(mix(seed, first_index + i));
    draw(out[i], gen);
  }
  return out.to(x.device(), x.scalar_type());
}

}  // namespace

void linf_step_(const at::Tensor& x, const at::Tensor& grad, const at::Tensor& x0, double alpha,
                double eps) {
  TORCH_CHECK(x.sizes() == grad.sizes() && x.sizes() == x0.sizes(),
              "linf_step_: x, grad and x0 must have the same shape");
  x.add_(grad.sign(), alpha);
  // clamp(x, lo, hi) is min(max(x, lo), hi): the projection, in the order the spec states.
  x.clamp_(x0 - eps, x0 + eps);
  x.clamp_(0.0, 1.0);
}

double default_blur_sigma(int64_t k) { return 0.3 * ((k - 1) * 0.5 - 1) + 0.8; }

std::vector<float> gaussian_taps(int64_t k, double sigma) {
  if (k < 1 || k % 2 == 0)
    throw std::invalid_argument("blur kernel size must be odd and positive, got " +
                                std::to_string(k));
  if (sigma <= 0) sigma = default_blur_sigma(k);
  std::vector<double> taps(k);
  double sum = 0;
  const double centre = (k - 1) / 2.0;
  for (int64_t i = 0; i < k; ++i) {
    const double d = i - centre;
    taps[i] = std::exp(-(d * d) / (2 * sigma * sigma));
    sum += taps[i];
  }
  std::vector<float> out(k);
  for (int64_t i = 0; i < k; ++i) out[i] = static_cast<float>(taps[i] / sum);
  return out;
}

at::Tensor gaussian_blur(const at::Tensor& x, int64_t k, double sigma) {
  TORCH_CHECK(x.dim() == 4, "gaussian_blur expects N×C×H×W, got ", x.dim(), " dims");
  const auto taps = gaussian_taps(k, sigma);
  const int64_t pad = k / 2;
  if (pad >= x.size(2) || pad >= x.size(3))
    throw std::invalid_argument("blur kernel " + std::to_string(k) + "x" + std::to_string(k) +
                                " is too large for " + std::to_string(x.size(2)) + "x" +
                                std::to_string(x.size(3)) + " inputs (reflect-101 border)");
  const int64_t channels = x.size(1);
  auto t = at::from_blob(const_cast<float*>(taps.data()), {k}, at::kFloat)
               .to(x.options());
  auto row = t.view({1, 1, 1, k}).expand({channels, 1, 1, k}).contiguous();
  auto col = t.view({1, 1, k, 1}).expand({channels, 1, k, 1}).contiguous();
  // PyTorch's "reflect" padding excludes the edge pixel, which is OpenCV's reflect-101.
  // Owning storage: an IntArrayRef made from a braced list would dangle.
  const std::vector<int64_t> one{1, 1}, zero{0, 0};
  auto h = at::conv2d(at::reflection_pad2d(x, {pad, pad, 0, 0}), row, std::nullopt, one, zero, one, channels);
  return at::conv2d(at::reflection_pad2d(h, {0, 0, pad, pad}), col, std::nullopt, one, zero, one, channels);
}

at::Tensor gaussian_noise(const at::Tensor& x, double level, uint64_t seed, int64_t first_index) {
  auto noise = per_sample(x, seed, first_index,
                          [&](at::Tensor s, at::Generator& g) { s.normal_(0.0, level, g); });
  return (x + noise).clamp_(0.0, 1.0);
}

at::Tensor uniform_ball(const at::Tensor& x, double eps, uint64_t seed, int64_t first_index) {
  return per_sample(x, seed, first_index,
                    [&](at::Tensor s, at::Generator& g) { s.uniform_(-eps, eps, g); });
}

}  // namespace modelgate::kernels
