#include "attacks/corruptions.h"
#include "attacks/fgsm.h"
#include "attacks/pgd.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

namespace ma = modelgate::attacks;

namespace {

// A linear classifier on flattened inputs: its input gradient has a closed form, which
// makes the attacks checkable without autograd in the test.
struct Linear {
  at::Tensor w, b;  // K×D, K
  at::Tensor operator()(const at::Tensor& x) const { return at::addmm(b, x.flatten(1), w.t()); }
  // ∇x of summed cross-entropy = (softmax − onehot) · W, per sample.
  at::Tensor grad(const at::Tensor& x, const at::Tensor& y) const {
    auto p = at::softmax((*this)(x), 1);
    p = p - at::one_hot(y, w.size(0)).to(at::kFloat);
    return at::mm(p, w).view(x.sizes());
  }
};

Linear make_linear(int64_t k, int64_t d, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return {at::randn({k, d}, gen), at::randn({k}, gen)};
}

}  // namespace

TEST(CeInputGradient, MatchesClosedFormForALinearModel) {
  auto model = make_linear(5, 12, 1);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2);
  auto x = at::rand({7, 3, 2, 2}, gen);
  auto y = at::randint(0, 5, {7}, gen);
  auto g = ma::ce_input_gradient(model, x, y);
  EXPECT_TRUE(at::allclose(g, model.grad(x, y), 1e-4, 1e-5));
  EXPECT_FALSE(x.requires_grad());
}

TEST(Fgsm, IsSignStepClampedToUnitRange) {
  auto model = make_linear(4, 16, 3);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  auto x = at::rand({6, 1, 4, 4}, gen);
  auto y = at::randint(0, 4, {6}, gen);
  const double eps = 0.1;
  auto adv = ma::fgsm(model, x, y, eps);
  auto expected = (x + eps * model.grad(x, y).sign()).clamp(0, 1);
  EXPECT_TRUE(at::allclose(adv, expected, 0, 1e-6));
  EXPECT_LE((adv - x).abs().max().item<double>(), eps + 1e-6);
}

TEST(Pgd, StaysInBallAndUnitRangeAndRaisesLoss) {
  auto model = make_linear(3, 8, 5);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(6);
  auto x = at::rand({10, 2, 2, 2}, gen);
  auto y = at::randint(0, 3, {10}, gen);
  ma::PgdOptions opts{0.05, 7, 0.02, true, 11};
  auto adv = ma::pgd_linf(model, x, y, opts);
  EXPECT_LE((adv - x).abs().max().item<double>(), 0.05 + 1e-6);
  EXPECT_GE(adv.min().item<double>(), 0.0);
  EXPECT_LE(adv.max().item<double>(), 1.0);
  auto loss = [&](const at::Tensor& v) {
    return at::cross_entropy_loss(model(v), y, {}, at::Reduction::Sum).item<double>();
  };
  EXPECT_GT(loss(adv), loss(x));
}

TEST(Pgd, OneStepWithoutRandomStartAndAlphaEpsIsFgsm) {
  auto model = make_linear(4, 9, 7);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(8);
  auto x = at::rand({5, 1, 3, 3}, gen);
  auto y = at::randint(0, 4, {5}, gen);
  ma::PgdOptions opts{0.07, 1, 0.07, false, 0};
  EXPECT_TRUE(at::equal(ma::pgd_linf(model, x, y, opts), ma::fgsm(model, x, y, 0.07)));
}

TEST(Pgd, TextbookLoopAgreesStepByStep) {
  auto model = make_linear(6, 12, 9);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(10);
  auto x0 = at::rand({4, 3, 2, 2}, gen);
  auto y = at::randint(0, 6, {4}, gen);
  const double eps = 0.08, alpha = 0.03;
  auto x = x0.clone();
  for (int i = 0; i < 5; ++i)
    x = at::min(at::max(x + alpha * model.grad(x, y).sign(), x0 - eps), x0 + eps).clamp(0, 1);
  ma::PgdOptions opts{eps, 5, alpha, false, 0};
  EXPECT_TRUE(at::allclose(ma::pgd_linf(model, x0, y, opts), x, 0, 1e-6));
}

TEST(Pgd, DefaultStepSizeAndSeededStartIndependentOfBatching) {
  EXPECT_DOUBLE_EQ(ma::pgd_step_size({0.1, 10, -1, true, 0}), 0.025);
  EXPECT_DOUBLE_EQ(ma::pgd_step_size({0.1, 10, 0.01, true, 0}), 0.01);
  auto model = make_linear(3, 4, 12);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(13);
  auto x = at::rand({6, 1, 2, 2}, gen);
  auto y = at::randint(0, 3, {6}, gen);
  ma::PgdOptions opts{0.05, 3, -1, true, 99};
  auto whole = ma::pgd_linf(model, x, y, opts, 0);
  auto split = at::cat({ma::pgd_linf(model, x.narrow(0, 0, 4), y.narrow(0, 0, 4), opts, 0),
                        ma::pgd_linf(model, x.narrow(0, 4, 2), y.narrow(0, 4, 2), opts, 4)});
  EXPECT_TRUE(at::allclose(whole, split, 0, 1e-6));
  // Large steps drive every start to the same corner of the ball; a small one keeps the
  // start visible, so a different seed must give a different result.
  ma::PgdOptions small{0.05, 1, 0.001, true, 99};
  const auto a = ma::pgd_linf(model, x, y, small, 0);
  small.seed = 100;
  EXPECT_FALSE(at::equal(a, ma::pgd_linf(model, x, y, small, 0)));
}

TEST(Corruptions, ForwardToKernels) {
  auto x = at::full({2, 1, 5, 5}, 0.5);
  EXPECT_TRUE(at::equal(ma::gaussian_noise(x, 0.1, 3, 0), ma::gaussian_noise(x, 0.1, 3, 0)));
  EXPECT_TRUE(at::allclose(ma::gaussian_blur(x, 3, 0), x));
}
