// Plain-ATen reference implementations (kernels/reference_ops.h): the fallback for any device
// without a dedicated kernel, and the oracle the CPU and CUDA kernels are tested against.
// Clarity beats speed here; every op is a composition of stock ATen operators.
#include "kernels/reference_ops.h"

#include "kernels/ops.h"
#include "kernels/philox.h"

#include <torch/library.h>

#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace modelgate::kernels {

double default_blur_sigma(int64_t k) { return 0.3 * ((k - 1) * 0.5 - 1) + 0.8; }

std::vector<float> gaussian_taps(int64_t k, double sigma) {
  if (k < 1 || k % 2 == 0)
    throw std::invalid_argument("blur kernel size must be odd and positive, got " + std::to_string(k));
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

namespace ref {
namespace {

constexpr int64_t kLow32 = 0xFFFFFFFFLL;

void check_floating(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(at::isFloatingType(t.scalar_type()), op, ": ", name,
              " must be a floating tensor (float32, float16, bfloat16 or float64), got ", t.scalar_type());
}

void check_same(const char* op, const at::Tensor& x, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.sizes() == x.sizes(), op, ": ", name, " must have the shape of x ", x.sizes(), ", got ",
              t.sizes());
  TORCH_CHECK(t.scalar_type() == x.scalar_type(), op, ": ", name, " must have x's dtype ", x.scalar_type(),
              ", got ", t.scalar_type());
  TORCH_CHECK(t.device() == x.device(), op, ": ", name, " must be on x's device ", x.device(), ", got ",
              t.device());
}

void check_batched(const char* op, const at::Tensor& x) {
  TORCH_CHECK(x.dim() >= 1, op, ": x must have a batch dimension, got a 0-d tensor");
}

// The arithmetic type of the kernels (at::opmath_type): float for the half types, else the dtype.
at::ScalarType opmath(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

// Elements per sample; well defined for an empty batch too.
int64_t per_sample(const at::Tensor& x) {
  int64_t d = 1;
  for (int64_t i = 1; i < x.dim(); ++i) d *= x.size(i);
  return d;
}

// (hi, lo) words of m·c for 32-bit m and a tensor of 32-bit words, without ever leaving the
// int64 range: c is split into 16-bit halves so that each partial product stays below 2^48.
std::pair<at::Tensor, at::Tensor> mulhilo(uint32_t m, const at::Tensor& c) {
  const auto mm = static_cast<int64_t>(m);
  auto a = at::bitwise_and(c, 0xFFFF) * mm;
  auto b = at::bitwise_right_shift(c, 16) * mm;
  auto t = a + at::bitwise_left_shift(at::bitwise_and(b, 0xFFFF), 16);
  auto lo = at::bitwise_and(t, kLow32);
  auto hi = at::bitwise_right_shift(t, 32) + at::bitwise_right_shift(b, 16);
  return {hi, lo};
}

// Words [S, blocks, 4] for samples `sample` (int64 [S], read as uint64) and blocks
// 0..blocks-1 of `stream`: modelgate's counter layout (block, sample_lo, sample_hi, stream).
at::Tensor stream_words(const at::Tensor& sample, int64_t blocks, uint64_t seed, uint32_t stream) {
  const int64_t s = sample.size(0);
  auto block = at::arange(blocks, sample.options()).view({1, blocks}).expand({s, blocks});
  auto lo = at::bitwise_and(sample, kLow32).view({s, 1}).expand({s, blocks});
  auto hi = at::bitwise_and(at::bitwise_right_shift(sample, 32), kLow32).view({s, 1}).expand({s, blocks});
  auto tag = at::full({s, blocks}, static_cast<int64_t>(stream), sample.options());
  return philox4x32_10(at::stack({block, lo, hi, tag}, -1), seed);
}

// The word that element e of sample i uses, int64 shaped like x: v[e % 4] of block e / 4.
at::Tensor element_words(const at::Tensor& x, uint64_t seed, int64_t first_index, uint32_t stream) {
  const int64_t n = x.size(0), d = per_sample(x);
  auto sample = at::arange(n, x.options().dtype(at::kLong)) + first_index;
  const int64_t blocks = (d + 3) / 4;
  auto words = stream_words(sample, blocks, seed, stream);
  return words.reshape({n, blocks * 4}).narrow(1, 0, d).reshape(x.sizes());
}

// philox::to_unit_open0 and to_signed_unit: 24 random bits, exact in float32.
at::Tensor unit_open0(const at::Tensor& w) {
  return (at::bitwise_right_shift(w, 8) + 1).to(at::kFloat) * (1.0 / 16777216.0);
}
at::Tensor signed_unit(const at::Tensor& w) {
  return at::bitwise_right_shift(w, 8).to(at::kFloat) * (2.0 / 16777216.0) - 1.0;
}

}  // namespace

at::Tensor philox4x32_10(const at::Tensor& counter, uint64_t key) {
  TORCH_CHECK(counter.dim() >= 1 && counter.size(-1) == 4 && counter.scalar_type() == at::kLong,
              "philox4x32_10: counter must be int64 [..., 4], got ", counter.scalar_type(), " ",
              counter.sizes());
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  auto words = counter.unbind(-1);
  std::array<at::Tensor, 4> c{words[0], words[1], words[2], words[3]};
  auto k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    auto [hi0, lo0] = mulhilo(kM0, c[0]);
    auto [hi1, lo1] = mulhilo(kM1, c[2]);
    c = {at::bitwise_xor(at::bitwise_xor(hi1, c[1]), static_cast<int64_t>(k0)), lo1,
         at::bitwise_xor(at::bitwise_xor(hi0, c[3]), static_cast<int64_t>(k1)), lo0};
    k0 += kW0;  // uint32 arithmetic: the key schedule wraps mod 2^32
    k1 += kW1;
  }
  return at::stack({c[0], c[1], c[2], c[3]}, -1);
}

at::Tensor& linf_step_(at::Tensor& x, const at::Tensor& grad, const at::Tensor& x0, double alpha, double eps) {
  check_floating("linf_step_", "x", x);
  check_same("linf_step_", x, "grad", grad);
  check_same("linf_step_", x, "x0", x0);
  // Half types are computed in float and rounded once at the end (ATen's own half arithmetic
  // would round alpha, eps and every intermediate to the half type).
  const auto t = opmath(x.scalar_type());
  // The bounds come first: x may alias x0.
  auto x0f = x0.to(t);
  auto lo = x0f - eps, hi = x0f + eps;
  auto xf = x.to(t);  // x itself for float32 and float64
  xf.add_(grad.to(t).sign(), alpha);
  // clamp(x, lo, hi) is min(max(x, lo), hi): the projection, in the order the spec states.
  xf.clamp_(lo, hi).clamp_(0.0, 1.0);
  if (!xf.is_same(x)) x.copy_(xf);
  return x;
}

at::Tensor& l2_step_(at::Tensor& x, const at::Tensor& grad, const at::Tensor& x0, double alpha, double eps) {
  check_floating("l2_step_", "x", x);
  check_batched("l2_step_", x);
  check_same("l2_step_", x, "grad", grad);
  check_same("l2_step_", x, "x0", x0);
  const int64_t n = x.size(0);
  if (n == 0) return x;
  const auto t = opmath(x.scalar_type());
  std::vector<int64_t> per_sample_shape(x.dim(), 1);
  per_sample_shape[0] = n;
  auto norm = [n](const at::Tensor& v) { return v.reshape({n, -1}).to(at::kDouble).square().sum(1).sqrt(); };

  auto xf = x.to(t), gf = grad.to(t), x0f = x0.to(t);
  auto gn = norm(gf);
  auto scale = at::where(gn > 0, at::full_like(gn, alpha) / gn, at::zeros_like(gn)).to(t).view(per_sample_shape);
  auto d = (xf + gf * scale) - x0f;
  auto dn = norm(d);
  // Inside the ball (or no perturbation at all) nothing is scaled; eps / 0 is never formed.
  auto shrink = at::where(dn > eps, at::full_like(dn, eps) / dn, at::ones_like(dn)).to(t).view(per_sample_shape);
  x.copy_((x0f + d * shrink).clamp_(0.0, 1.0));
  return x;
}

at::Tensor gaussian_noise(const at::Tensor& x, double level, int64_t seed, int64_t first_index) {
  check_floating("gaussian_noise", "x", x);
  check_batched("gaussian_noise", x);
  const int64_t n = x.size(0), d = per_sample(x), blocks = (d + 3) / 4;
  auto sample = at::arange(n, x.options().dtype(at::kLong)) + first_index;
  auto words = stream_words(sample, blocks, static_cast<uint64_t>(seed), philox::kNoise);
  // Box-Muller on the pairs (w0, w1) and (w2, w3) of each block, in double so that every
  // backend's libm agrees to within an ulp or two before the cast to float.
  auto u = unit_open0(words).to(at::kDouble).view({n, blocks, 2, 2});
  auto r = (at::log(u.select(-1, 0)) * -2.0).sqrt();
  auto theta = u.select(-1, 1) * (2.0 * M_PI);
  auto z = at::stack({r * at::cos(theta), r * at::sin(theta)}, -1).reshape({n, blocks * 4}).narrow(1, 0, d);
  auto zf = z.to(at::kFloat).reshape(x.sizes());
  const auto t = opmath(x.scalar_type());
  // Two separate ops, not add(x, z, alpha): a fused multiply-add would round differently.
  return (x.to(t) + zf.to(t) * level).clamp_(0.0, 1.0).to(x.scalar_type());
}

at::Tensor uniform_ball(const at::Tensor& x, double eps, int64_t seed, int64_t first_index) {
  check_floating("uniform_ball", "x", x);
  check_batched("uniform_ball", x);
  auto u = signed_unit(element_words(x, static_cast<uint64_t>(seed), first_index, philox::kUniformBall));
  return (u.to(opmath(x.scalar_type())) * eps).to(x.scalar_type());
}

at::Tensor philox_bits(const at::Tensor& x, int64_t seed, int64_t first_index) {
  check_batched("philox_bits", x);
  auto w = element_words(x, static_cast<uint64_t>(seed), first_index, philox::kBits);
  // The word's bit pattern as int32 (two's complement), spelled out rather than relying on
  // how a narrowing cast treats values ≥ 2^31.
  return (w - at::bitwise_left_shift(at::bitwise_right_shift(w, 31), 32)).to(at::kInt);
}

at::Tensor gaussian_blur(const at::Tensor& x, int64_t k, double sigma) {
  // The kernel size is validated first: a bad k is a user error (std::invalid_argument).
  const auto taps = gaussian_taps(k, sigma);
  TORCH_CHECK(x.dim() == 4, "gaussian_blur: x must be N×C×H×W, got ", x.dim(), " dims");
  check_floating("gaussian_blur", "x", x);
  const int64_t pad = k / 2;
  if (pad >= x.size(2) || pad >= x.size(3))
    throw std::invalid_argument("blur kernel " + std::to_string(k) + "x" + std::to_string(k) +
                                " is too large for " + std::to_string(x.size(2)) + "x" +
                                std::to_string(x.size(3)) + " inputs (reflect-101 border)");
  const int64_t channels = x.size(1);
  const auto t = opmath(x.scalar_type());
  auto xf = x.to(t);
  auto tap = at::from_blob(const_cast<float*>(taps.data()), {k}, at::kFloat).to(xf.options());
  auto row = tap.view({1, 1, 1, k}).expand({channels, 1, 1, k}).contiguous();
  auto col = tap.view({1, 1, k, 1}).expand({channels, 1, k, 1}).contiguous();
  // PyTorch's "reflect" padding excludes the edge pixel, which is OpenCV's reflect-101.
  // Owning storage: an IntArrayRef made from a braced list would dangle.
  const std::vector<int64_t> one{1, 1}, zero{0, 0};
  auto h = at::conv2d(at::reflection_pad2d(xf, {pad, pad, 0, 0}), row, std::nullopt, one, zero, one, channels);
  auto out = at::conv2d(at::reflection_pad2d(h, {0, 0, pad, pad}), col, std::nullopt, one, zero, one, channels);
  return out.to(x.scalar_type());
}

at::Tensor sign_sketch(const at::Tensor& x, int64_t bits, int64_t seed) {
  check_batched("sign_sketch", x);
  check_floating("sign_sketch", "x", x);
  TORCH_CHECK(bits >= 1, "sign_sketch: bits must be at least 1, got ", bits);
  const int64_t n = x.size(0), d = per_sample(x);
  auto longs = x.options().dtype(at::kLong);
  // Sign j of row b is bit j % 32 of word j / 32 of the row's stream, 128 signs per block.
  const int64_t blocks = (d + 127) / 128;
  auto words = stream_words(at::arange(bits, longs), blocks, static_cast<uint64_t>(seed), philox::kSketch)
                   .reshape({bits, blocks * 4});
  auto shifts = at::arange(32, longs);
  auto bit = at::bitwise_and(at::bitwise_right_shift(words.unsqueeze(-1), shifts), 1)
                 .reshape({bits, blocks * 128})
                 .narrow(1, 0, d);
  auto signs = (bit * 2 - 1).to(at::kDouble);
  auto dots = at::matmul(x.reshape({n, d}).to(at::kDouble), signs.t());
  return dots.ge(0).to(at::kByte);
}

}  // namespace ref

TORCH_LIBRARY_IMPL(modelgate, CompositeExplicitAutograd, m) {
  m.impl("linf_step_", TORCH_FN(ref::linf_step_));
  m.impl("l2_step_", TORCH_FN(ref::l2_step_));
  m.impl("gaussian_noise", TORCH_FN(ref::gaussian_noise));
  m.impl("uniform_ball", TORCH_FN(ref::uniform_ball));
  m.impl("philox_bits", TORCH_FN(ref::philox_bits));
  m.impl("gaussian_blur", TORCH_FN(ref::gaussian_blur));
  m.impl("sign_sketch", TORCH_FN(ref::sign_sketch));
}

}  // namespace modelgate::kernels
