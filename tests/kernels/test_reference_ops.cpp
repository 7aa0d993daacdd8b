#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

namespace mk = modelgate::kernels;

namespace {

// Reflect-101 index: -1 → 1, n → n-2.
int64_t reflect101(int64_t i, int64_t n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * n - 2 - i;
  return i;
}

// A direct k×k 2-D convolution with reflect-101 borders, written with loops: the oracle
// for the separable ATen blur.
at::Tensor naive_blur(const at::Tensor& x, int64_t k, double sigma) {
  const auto taps = mk::gaussian_taps(k, sigma);
  auto out = at::zeros_like(x);
  auto xa = x.accessor<float, 4>();
  auto oa = out.accessor<float, 4>();
  const int64_t r = k / 2;
  for (int64_t n = 0; n < x.size(0); ++n)
    for (int64_t c = 0; c < x.size(1); ++c)
      for (int64_t i = 0; i < x.size(2); ++i)
        for (int64_t j = 0; j < x.size(3); ++j) {
          double acc = 0;
          for (int64_t a = -r; a <= r; ++a)
            for (int64_t b = -r; b <= r; ++b)
              acc += taps[a + r] * taps[b + r] *
                     xa[n][c][reflect101(i + a, x.size(2))][reflect101(j + b, x.size(3))];
          oa[n][c][i][j] = static_cast<float>(acc);
        }
  return out;
}

}  // namespace

TEST(LinfStep, MatchesFormulaIncludingProjectionAndClamp) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto x0 = at::rand({4, 3, 5, 5}, gen);
  auto x = (x0 + at::rand({4, 3, 5, 5}, gen) * 0.2 - 0.1).clamp(0, 1);
  auto grad = at::randn({4, 3, 5, 5}, gen);
  grad.index_put_({0, 0, 0, 0}, 0.0);  // sign(0) = 0: no move
  const double alpha = 0.07, eps = 0.05;
  auto expected = at::min(at::max(x + alpha * grad.sign(), x0 - eps), x0 + eps).clamp(0, 1);
  auto y = x.clone();
  mk::linf_step_(y, grad, x0, alpha, eps);
  EXPECT_TRUE(at::equal(y, expected));
  EXPECT_LE((y - x0).abs().max().item<double>(), eps + 1e-7);
  EXPECT_GE(y.min().item<double>(), 0.0);
  EXPECT_LE(y.max().item<double>(), 1.0);
}

TEST(LinfStep, RejectsMismatchedShapes) {
  auto x = at::zeros({2, 3});
  EXPECT_THROW(mk::linf_step_(x, at::zeros({3, 2}), at::zeros({2, 3}), 0.1, 0.1), c10::Error);
}

TEST(GaussianTaps, NormalisedSymmetricAndOpenCvDefaultSigma) {
  EXPECT_DOUBLE_EQ(mk::default_blur_sigma(3), 0.8);
  EXPECT_NEAR(mk::default_blur_sigma(5), 1.1, 1e-12);
  for (int64_t k : {1, 3, 5, 7, 9}) {
    const auto t = mk::gaussian_taps(k, 0);
    double sum = 0;
    for (float v : t) sum += v;
    EXPECT_NEAR(sum, 1.0, 1e-6) << k;
    for (int64_t i = 0; i < k; ++i) EXPECT_FLOAT_EQ(t[i], t[k - 1 - i]);
  }
  const auto t3 = mk::gaussian_taps(3, 0.8);
  EXPECT_NEAR(t3[1], 1.0 / (1.0 + 2.0 * std::exp(-1.0 / (2 * 0.64))), 1e-6);
  EXPECT_THROW(mk::gaussian_taps(4, 1.0), std::invalid_argument);
  EXPECT_THROW(mk::gaussian_taps(0, 1.0), std::invalid_argument);
}

TEST(GaussianBlur, MatchesDirect2DConvolutionWithReflect101) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  for (auto [k, sigma] : {std::pair<int64_t, double>{3, 0}, {5, 1.5}, {7, 0}}) {
    auto x = at::rand({2, 3, 9, 11}, gen);  // odd, non-square sizes
    auto got = mk::gaussian_blur(x, k, sigma);
    auto want = naive_blur(x, k, sigma);
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-5) << "k=" << k;
  }
}

TEST(GaussianBlur, ConstantImageStaysConstantAndNonContiguousInputWorks) {
  auto x = at::full({1, 2, 6, 6}, 0.25);
  EXPECT_LT((mk::gaussian_blur(x, 5, 0) - 0.25).abs().max().item<double>(), 1e-6);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto base = at::rand({2, 8, 8, 3}, gen);
  auto nchw = base.permute({0, 3, 1, 2});  // non-contiguous view
  ASSERT_FALSE(nchw.is_contiguous());
  EXPECT_TRUE(at::allclose(mk::gaussian_blur(nchw, 3, 0), mk::gaussian_blur(nchw.contiguous(), 3, 0)));
}

TEST(GaussianBlur, RejectsKernelsTooLargeForTheImage) {
  EXPECT_THROW(mk::gaussian_blur(at::rand({1, 1, 4, 4}), 9, 0), std::invalid_argument);
  EXPECT_THROW(mk::gaussian_blur(at::rand({1, 1, 4, 4}), 2, 0), std::invalid_argument);
}

TEST(GaussianNoise, PerSampleStreamsDoNotDependOnBatching) {
  auto x = at::full({6, 1, 4, 4}, 0.5);
  auto whole = mk::gaussian_noise(x, 0.1, 42, 0);
  auto head = mk::gaussian_noise(x.narrow(0, 0, 2), 0.1, 42, 0);
  auto tail = mk::gaussian_noise(x.narrow(0, 2, 4), 0.1, 42, 2);
  EXPECT_TRUE(at::equal(whole, at::cat({head, tail})));
  EXPECT_FALSE(at::equal(whole, mk::gaussian_noise(x, 0.1, 43, 0)));
  EXPECT_FALSE(at::equal(whole[0], whole[1]));
}

TEST(GaussianNoise, HasTheRequestedSpreadAndStaysInRange) {
  auto x = at::full({64, 1, 16, 16}, 0.5);
  auto y = mk::gaussian_noise(x, 0.1, 1, 0);
  EXPECT_NEAR((y - x).std().item<double>(), 0.1, 0.005);
  EXPECT_NEAR((y - x).mean().item<double>(), 0.0, 0.005);
  auto z = mk::gaussian_noise(at::ones({4, 1, 8, 8}), 0.5, 1, 0);
  EXPECT_LE(z.max().item<double>(), 1.0);
}

TEST(UniformBall, BoundedAndKeyedBySample) {
  auto x = at::zeros({8, 2, 3, 3});
  auto u = mk::uniform_ball(x, 0.03, 5, 10);
  EXPECT_LE(u.abs().max().item<double>(), 0.03);
  EXPECT_TRUE(at::equal(u.narrow(0, 3, 5), mk::uniform_ball(x.narrow(0, 0, 5), 0.03, 5, 13)));
}

TEST(EmptyInput, OpsReturnEmptyTensors) {
  auto x = at::zeros({0, 1, 4, 4});
  EXPECT_EQ(mk::gaussian_noise(x, 0.1, 0, 0).size(0), 0);
  EXPECT_EQ(mk::gaussian_blur(x, 3, 0).size(0), 0);
}
