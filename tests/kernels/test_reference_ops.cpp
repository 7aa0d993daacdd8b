// The operator contracts of kernels/ops.h, checked from first principles (loops over
// kernels/philox.h, a direct 2-D convolution, naive statistics) for both implementations a CPU
// tensor can reach: the plain-ATen reference called directly, and the dispatcher (CPU kernel).
#include "kernels/philox.h"
#include "tests/kernels/kernel_test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

namespace mk = modelgate::kernels;
namespace philox = modelgate::kernels::philox;
namespace kt = modelgate::kernels::testing;

namespace {

// Reflect-101 index: -1 → 1, n → n-2.
int64_t reflect101(int64_t i, int64_t n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * n - 2 - i;
  return i;
}

// A direct k×k 2-D convolution with reflect-101 borders, written with loops: the oracle for
// the separable blur.
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
              acc += taps[a + r] * taps[b + r] * xa[n][c][reflect101(i + a, x.size(2))][reflect101(j + b, x.size(3))];
          oa[n][c][i][j] = static_cast<float>(acc);
        }
  return out;
}

// The word element e of sample i uses, straight from the documented layout.
uint32_t word(uint64_t seed, int64_t sample, int64_t e, uint32_t stream) {
  return philox::draw(seed, static_cast<uint64_t>(sample), static_cast<uint64_t>(e / 4), stream).v[e % 4];
}

class OpContract : public ::testing::TestWithParam<kt::Impl> {};

}  // namespace

TEST_P(OpContract, LinfStepMatchesFormulaIncludingProjectionAndClamp) {
  const auto& impl = GetParam();
  auto x0 = kt::rand({4, 3, 5, 5}, 1);
  auto x = (x0 + kt::rand({4, 3, 5, 5}, 2) * 0.2 - 0.1).clamp(0, 1);
  auto grad = kt::randn({4, 3, 5, 5}, 3);
  grad.index_put_({0, 0, 0, 0}, 0.0);  // sign(0) = 0: no move
  const double alpha = 0.07, eps = 0.05;
  auto expected = at::min(at::max(x + alpha * grad.sign(), x0 - eps), x0 + eps).clamp(0, 1);
  auto y = x.clone();
  auto& ret = impl.linf_step_(y, grad, x0, alpha, eps);
  EXPECT_TRUE(ret.is_same(y));
  EXPECT_TRUE(at::equal(y, expected));
  EXPECT_LE((y - x0).abs().max().item<double>(), eps + 1e-7);
  EXPECT_GE(y.min().item<double>(), 0.0);
  EXPECT_LE(y.max().item<double>(), 1.0);
}

TEST_P(OpContract, LinfStepUpdatesNonContiguousXInPlace) {
  const auto& impl = GetParam();
  auto base = kt::rand({2, 5, 5, 3}, 4);
  auto x = base.permute({0, 3, 1, 2});
  ASSERT_FALSE(x.is_contiguous());
  auto x0 = x.contiguous(), grad = kt::randn({2, 3, 5, 5}, 5);
  auto expected = x.clone();
  mk::testing::reference_impl().linf_step_(expected, grad, x0, 0.1, 0.05);
  impl.linf_step_(x, grad, x0, 0.1, 0.05);
  EXPECT_TRUE(at::equal(base.permute({0, 3, 1, 2}), expected));
}

TEST_P(OpContract, StepsRejectMismatchedShapesAndDtypes) {
  const auto& impl = GetParam();
  auto x = at::zeros({2, 3});
  EXPECT_THROW(impl.linf_step_(x, at::zeros({3, 2}), at::zeros({2, 3}), 0.1, 0.1), c10::Error);
  EXPECT_THROW(impl.linf_step_(x, at::zeros({2, 3}), at::zeros({2, 3}, at::kDouble), 0.1, 0.1), c10::Error);
  EXPECT_THROW(impl.l2_step_(x, at::zeros({2, 3}), at::zeros({2, 4}), 0.1, 0.1), c10::Error);
  auto xi = at::zeros({2, 3}, at::kInt);
  EXPECT_THROW(impl.linf_step_(xi, xi, xi, 0.1, 0.1), c10::Error);
  EXPECT_THROW(impl.l2_step_(xi, xi, xi, 0.1, 0.1), c10::Error);
}

TEST_P(OpContract, L2StepMatchesPerSampleFormula) {
  const auto& impl = GetParam();
  const int64_t n = 5;
  auto x0 = kt::rand({n, 2, 3, 7}, 6);
  auto x = (x0 + kt::randn({n, 2, 3, 7}, 7) * 0.02).clamp(0, 1);
  auto grad = kt::randn({n, 2, 3, 7}, 8);
  grad[1].zero_();  // no gradient: no move, x only projected
  x[2].copy_(x0[2]);
  grad[2].zero_();  // no gradient and no perturbation: untouched
  const double alpha = 0.3, eps = 0.25;
  auto want = x.to(at::kDouble).clone();
  for (int64_t i = 0; i < n; ++i) {
    auto g = grad[i].to(at::kDouble);
    const double gn = g.norm().item<double>();
    auto xi = want[i] + (gn > 0 ? alpha / gn : 0.0) * g;
    auto d = xi - x0[i].to(at::kDouble);
    const double dn = d.norm().item<double>();
    want[i].copy_((x0[i].to(at::kDouble) + d * (dn > eps ? eps / dn : 1.0)).clamp(0, 1));
  }
  auto y = x.clone();
  impl.l2_step_(y, grad, x0, alpha, eps);
  EXPECT_LT(kt::max_abs_diff(y, want), kt::kL2StepTol);
  EXPECT_TRUE(at::equal(y[2], x0[2]));
  const auto dist = (y - x0).flatten(1).norm(2, {1});
  EXPECT_LE(dist.max().item<double>(), eps + 1e-6);
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
  EXPECT_THROW(mk::gaussian_taps(-3, 1.0), std::invalid_argument);
}

TEST_P(OpContract, BlurMatchesDirect2DConvolutionWithReflect101) {
  const auto& impl = GetParam();
  for (auto [k, sigma] : {std::pair<int64_t, double>{1, 0}, {3, 0}, {5, 1.5}, {7, 0}}) {
    auto x = kt::rand({2, 3, 9, 11}, 9);  // odd, non-square sizes
    EXPECT_LT(kt::max_abs_diff(impl.gaussian_blur(x, k, sigma), naive_blur(x, k, sigma)), kt::kFloatSumTol)
        << "k=" << k;
  }
  // The smallest image a 5-tap kernel fits: reflect-101 reaches the far edge.
  auto tiny = kt::rand({1, 1, 3, 3}, 10);
  EXPECT_LT(kt::max_abs_diff(impl.gaussian_blur(tiny, 5, 0), naive_blur(tiny, 5, 0)), kt::kFloatSumTol);
}

TEST_P(OpContract, BlurKeepsConstantsAndHandlesNonContiguousInput) {
  const auto& impl = GetParam();
  auto x = at::full({1, 2, 6, 6}, 0.25);
  EXPECT_LT((impl.gaussian_blur(x, 5, 0) - 0.25).abs().max().item<double>(), 1e-6);
  auto nchw = kt::rand({2, 8, 8, 3}, 3).permute({0, 3, 1, 2});
  ASSERT_FALSE(nchw.is_contiguous());
  EXPECT_LT(kt::max_abs_diff(impl.gaussian_blur(nchw, 3, 0), naive_blur(nchw.contiguous(), 3, 0)),
            kt::kFloatSumTol);
}

TEST_P(OpContract, BlurRejectsBadKernelsAsInvalidArgumentAndBadTensorsAsErrors) {
  const auto& impl = GetParam();
  EXPECT_THROW(impl.gaussian_blur(kt::rand({1, 1, 4, 4}, 0), 9, 0), std::invalid_argument);
  EXPECT_THROW(impl.gaussian_blur(kt::rand({1, 1, 4, 4}, 0), 2, 0), std::invalid_argument);
  EXPECT_THROW(impl.gaussian_blur(kt::rand({1, 1, 9, 2}, 0), 5, 0), std::invalid_argument);
  // k is checked before the tensor: an even k on a bad tensor is still the user's k error.
  EXPECT_THROW(impl.gaussian_blur(kt::rand({4, 4}, 0), 2, 0), std::invalid_argument);
  EXPECT_THROW(impl.gaussian_blur(kt::rand({4, 4}, 0), 3, 0), c10::Error);
  EXPECT_THROW(impl.gaussian_blur(at::zeros({1, 1, 4, 4}, at::kInt), 3, 0), c10::Error);
}

TEST_P(OpContract, PhiloxBitsFollowTheDocumentedStreamLayout) {
  const auto& impl = GetParam();
  const uint64_t seed = 0xDEADBEEFCAFEF00DULL;  // top bit set: negative as a schema int
  auto x = at::zeros({3, 2, 5});                // 10 elements per sample: a partial last block
  auto bits = impl.philox_bits(x, seed, 7);
  ASSERT_EQ(bits.scalar_type(), at::kInt);
  ASSERT_EQ(bits.sizes(), x.sizes());
  auto flat = bits.reshape({3, 10});
  auto a = flat.accessor<int32_t, 2>();
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t e = 0; e < 10; ++e)
      EXPECT_EQ(static_cast<uint32_t>(a[i][e]), word(seed, 7 + i, e, philox::kBits)) << i << "," << e;
  // Any dtype will do: only the shape is used.
  EXPECT_TRUE(at::equal(impl.philox_bits(x.to(at::kInt), seed, 7), bits));
}

TEST_P(OpContract, UniformBallIsEpsTimesSignedUnitOfTheStream) {
  const auto& impl = GetParam();
  const double eps = 0.03;
  auto u = impl.uniform_ball(at::zeros({2, 3, 3}), eps, 5, 10);
  ASSERT_EQ(u.scalar_type(), at::kFloat);
  auto flat = u.reshape({2, 9});
  auto a = flat.accessor<float, 2>();
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t e = 0; e < 9; ++e)
      EXPECT_EQ(a[i][e], static_cast<float>(eps) * philox::to_signed_unit(word(5, 10 + i, e, philox::kUniformBall)));
}

TEST_P(OpContract, UniformBallIsBoundedUniformAndKeyedBySample) {
  const auto& impl = GetParam();
  auto x = at::zeros({64, 3, 16, 16});
  auto u = impl.uniform_ball(x, 0.03, 5, 10);
  EXPECT_LE(u.abs().max().item<double>(), 0.03);
  EXPECT_NEAR(u.mean().item<double>(), 0.0, 1e-3);
  EXPECT_NEAR(u.std().item<double>(), 0.03 / std::sqrt(3.0), 1e-3);
  EXPECT_TRUE(at::equal(u.narrow(0, 3, 5), impl.uniform_ball(x.narrow(0, 0, 5), 0.03, 5, 13)));
}

TEST_P(OpContract, GaussianNoiseIsBoxMullerOfTheStream) {
  const auto& impl = GetParam();
  const double level = 0.2;
  auto x = kt::rand({3, 1, 3, 3}, 12);  // 9 elements: the last block is partial
  auto y = impl.gaussian_noise(x, level, 99, 4);
  auto want = at::empty_like(x);
  auto xf = x.reshape({3, 9}), wf = want.view({3, 9});
  auto xa = xf.accessor<float, 2>();
  auto wa = wf.accessor<float, 2>();
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t e = 0; e < 9; ++e) {
      const int64_t pair = e - e % 2;  // lanes (0,1) and (2,3) share a Box-Muller pair
      const double u1 = philox::to_unit_open0(word(99, 4 + i, pair, philox::kNoise));
      const double u2 = philox::to_unit_open0(word(99, 4 + i, pair + 1, philox::kNoise));
      const double r = std::sqrt(-2.0 * std::log(u1)), theta = 2.0 * M_PI * u2;
      const auto z = static_cast<float>(e % 2 == 0 ? r * std::cos(theta) : r * std::sin(theta));
      wa[i][e] = std::min(std::max(xa[i][e] + static_cast<float>(level) * z, 0.0f), 1.0f);
    }
  EXPECT_LE(kt::max_abs_diff(y, want), kt::kNoiseAbsTol);
}

TEST_P(OpContract, GaussianNoisePerSampleStreamsDoNotDependOnBatching) {
  const auto& impl = GetParam();
  auto x = at::full({6, 1, 4, 4}, 0.5);
  auto whole = impl.gaussian_noise(x, 0.1, 42, 0);
  auto head = impl.gaussian_noise(x.narrow(0, 0, 2), 0.1, 42, 0);
  auto tail = impl.gaussian_noise(x.narrow(0, 2, 4), 0.1, 42, 2);
  EXPECT_TRUE(at::equal(whole, at::cat({head, tail})));
  EXPECT_FALSE(at::equal(whole, impl.gaussian_noise(x, 0.1, 43, 0)));
  EXPECT_FALSE(at::equal(whole[0], whole[1]));
}

TEST_P(OpContract, GaussianNoiseHasTheRequestedSpreadAndStaysInRange) {
  const auto& impl = GetParam();
  auto x = at::full({64, 3, 32, 32}, 0.5);
  auto z = (impl.gaussian_noise(x, 0.1, 1, 0) - x) / 0.1;  // 5 sigma from the clamp: unclamped
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 0.01);
  EXPECT_NEAR(z.std().item<double>(), 1.0, 0.01);
  EXPECT_NEAR((z.abs() < 1).to(at::kDouble).mean().item<double>(), 0.6827, 0.005);
  auto y = impl.gaussian_noise(at::ones({4, 1, 8, 8}), 0.5, 1, 0);
  EXPECT_LE(y.max().item<double>(), 1.0);
  EXPECT_GE(y.min().item<double>(), 0.0);
}

TEST_P(OpContract, SignSketchMatchesNaiveProjection) {
  const auto& impl = GetParam();
  const int64_t n = 4, d = 300, bits = 37;  // d not a multiple of 8, 32 or 128
  const uint64_t seed = 0x5eed;
  auto x = kt::randn({n, 3, 100}, 14);
  auto got = impl.sign_sketch(x, bits, seed);
  ASSERT_EQ(got.scalar_type(), at::kByte);
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{n, bits}));
  auto xf = x.reshape({n, d});
  auto xa = xf.accessor<float, 2>();
  auto ga = got.accessor<uint8_t, 2>();
  for (int64_t b = 0; b < bits; ++b)
    for (int64_t i = 0; i < n; ++i) {
      double dot = 0;
      for (int64_t j = 0; j < d; ++j) {
        const uint32_t w = philox::draw(seed, b, j / 128, philox::kSketch).v[(j / 32) % 4];
        dot += ((w >> (j % 32)) & 1u ? 1.0 : -1.0) * xa[i][j];
      }
      EXPECT_EQ(ga[i][b], dot >= 0 ? 1 : 0) << "sample " << i << " bit " << b;
    }
}

TEST_P(OpContract, SignSketchIsScaleInvariantAndPerSample) {
  const auto& impl = GetParam();
  auto x = kt::randn({6, 50}, 15);
  auto s = impl.sign_sketch(x, 64, 3);
  EXPECT_TRUE(at::equal(s, impl.sign_sketch(x * 4, 64, 3)));
  EXPECT_TRUE(at::equal(s.narrow(0, 2, 3), impl.sign_sketch(x.narrow(0, 2, 3), 64, 3)));
  EXPECT_TRUE(at::equal(impl.sign_sketch(-x, 64, 3), 1 - s));
  EXPECT_FALSE(at::equal(s, impl.sign_sketch(x, 64, 4)));
  EXPECT_TRUE(at::equal(impl.sign_sketch(at::zeros({2, 5}), 8, 1), at::ones({2, 8}, at::kByte)));
  EXPECT_THROW(impl.sign_sketch(x, 0, 3), c10::Error);
  EXPECT_THROW(impl.sign_sketch(at::zeros({2, 5}, at::kInt), 8, 3), c10::Error);
}

TEST_P(OpContract, RandomOpsRejectIntegerInput) {
  const auto& impl = GetParam();
  auto xi = at::zeros({2, 3}, at::kInt);
  EXPECT_THROW(impl.gaussian_noise(xi, 0.1, 0, 0), c10::Error);
  EXPECT_THROW(impl.uniform_ball(xi, 0.1, 0, 0), c10::Error);
  EXPECT_THROW(impl.gaussian_noise(at::scalar_tensor(0.5), 0.1, 0, 0), c10::Error);
}

TEST_P(OpContract, EmptyInputsGiveEmptyResults) {
  const auto& impl = GetParam();
  auto x = at::zeros({0, 1, 4, 4});
  EXPECT_EQ(impl.gaussian_noise(x, 0.1, 0, 0).sizes(), x.sizes());
  EXPECT_EQ(impl.uniform_ball(x, 0.1, 0, 0).sizes(), x.sizes());
  EXPECT_EQ(impl.philox_bits(x, 0, 0).sizes(), x.sizes());
  EXPECT_EQ(impl.gaussian_blur(x, 3, 0).sizes(), x.sizes());
  auto y = x.clone();
  EXPECT_EQ(impl.linf_step_(y, x, x, 0.1, 0.1).sizes(), x.sizes());
  EXPECT_EQ(impl.l2_step_(y, x, x, 0.1, 0.1).sizes(), x.sizes());
  EXPECT_EQ(impl.sign_sketch(x, 16, 0).sizes(), (std::vector<int64_t>{0, 16}));
  // Samples without elements.
  auto hollow = at::zeros({2, 0});
  EXPECT_EQ(impl.gaussian_noise(hollow, 0.1, 0, 0).sizes(), hollow.sizes());
  EXPECT_TRUE(at::equal(impl.sign_sketch(hollow, 4, 0), at::ones({2, 4}, at::kByte)));
}

INSTANTIATE_TEST_SUITE_P(Impls, OpContract, ::testing::Values(kt::reference_impl(), kt::dispatcher_impl()),
                         [](const ::testing::TestParamInfo<kt::Impl>& info) { return info.param.name; });
