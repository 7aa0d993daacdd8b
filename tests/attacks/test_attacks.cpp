#include "attacks/apgd.h"
#include "attacks/corruptions.h"
#include "attacks/fgsm.h"
#include "attacks/pgd.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

namespace ma = modelgate::attacks;

namespace {

ma::PgdOptions linf(double eps, int64_t steps, double alpha, bool random_start, uint64_t seed) {
  ma::PgdOptions o;
  o.epsilon = eps;
  o.steps = steps;
  o.step_size = alpha;
  o.random_start = random_start;
  o.seed = seed;
  return o;
}

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
  auto opts = linf(0.05, 7, 0.02, true, 11);
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
  auto opts = linf(0.07, 1, 0.07, false, 0);
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
  auto opts = linf(eps, 5, alpha, false, 0);
  EXPECT_TRUE(at::allclose(ma::pgd_linf(model, x0, y, opts), x, 0, 1e-6));
}

TEST(Pgd, DefaultStepSizeAndSeededStartIndependentOfBatching) {
  EXPECT_DOUBLE_EQ(ma::pgd_step_size(linf(0.1, 10, -1, true, 0)), 0.025);
  EXPECT_DOUBLE_EQ(ma::pgd_step_size(linf(0.1, 10, 0.01, true, 0)), 0.01);
  auto model = make_linear(3, 4, 12);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(13);
  auto x = at::rand({6, 1, 2, 2}, gen);
  auto y = at::randint(0, 3, {6}, gen);
  auto opts = linf(0.05, 3, -1, true, 99);
  auto whole = ma::pgd_linf(model, x, y, opts, 0);
  auto split = at::cat({ma::pgd_linf(model, x.narrow(0, 0, 4), y.narrow(0, 0, 4), opts, 0),
                        ma::pgd_linf(model, x.narrow(0, 4, 2), y.narrow(0, 4, 2), opts, 4)});
  EXPECT_TRUE(at::allclose(whole, split, 0, 1e-6));
  // Large steps drive every start to the same corner of the ball; a small one keeps the
  // start visible, so a different seed must give a different result.
  auto small = linf(0.05, 1, 0.001, true, 99);
  const auto a = ma::pgd_linf(model, x, y, small, 0);
  small.seed = 100;
  EXPECT_FALSE(at::equal(a, ma::pgd_linf(model, x, y, small, 0)));
}

TEST(Corruptions, ForwardToKernels) {
  auto x = at::full({2, 1, 5, 5}, 0.5);
  EXPECT_TRUE(at::equal(ma::gaussian_noise(x, 0.1, 3, 0), ma::gaussian_noise(x, 0.1, 3, 0)));
  EXPECT_TRUE(at::allclose(ma::gaussian_blur(x, 3, 0), x));
}

namespace {

// A batch where a linear model gets most samples right, so attacks have work to do.
struct Problem {
  Linear model;
  at::Tensor x, y;
};

Problem make_problem(int64_t n, uint64_t seed) {
  auto model = make_linear(5, 16, seed);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 1);
  auto x = at::rand({n, 1, 4, 4}, gen);
  auto y = model(x).argmax(1);  // labels the model agrees with: clean accuracy 100%
  return {model, x, y};
}

}  // namespace

TEST(RunPgd, L2StaysInTheBallAndAgreesWithTheTextbookLoop) {
  auto p = make_problem(12, 20);
  ma::PgdOptions o;
  o.norm = ma::Norm::l2;
  o.epsilon = 0.5;
  o.steps = 6;
  o.step_size = 0.15;
  o.random_start = false;
  o.active_set = false;
  auto r = ma::run_pgd(p.model, p.x, p.y, o);
  auto x = p.x.clone();
  for (int i = 0; i < 6; ++i) {
    auto g = p.model.grad(x, p.y);
    auto gn = g.flatten(1).norm(2, 1).view({-1, 1, 1, 1});
    x = x + 0.15 * g / gn;
    auto d = x - p.x;
    auto dn = d.flatten(1).norm(2, 1).view({-1, 1, 1, 1});
    x = (p.x + d * at::clamp(0.5 / dn, c10::nullopt, 1.0)).clamp(0, 1);
  }
  EXPECT_TRUE(at::allclose(r.last_iterate, x, 1e-5, 1e-5));
  EXPECT_LE((r.last_iterate - p.x).flatten(1).norm(2, 1).max().item<double>(), 0.5 + 1e-5);
}

TEST(RunPgd, ActiveSetGivesTheSameVerdictsAsAttackingEverySample) {
  auto p = make_problem(40, 30);
  auto o = linf(0.1, 8, 0.02, true, 5);
  o.restarts = 2;
  o.active_set = true;
  auto with = ma::run_pgd(p.model, p.x, p.y, o, 100);
  o.active_set = false;
  auto without = ma::run_pgd(p.model, p.x, p.y, o, 100);
  EXPECT_TRUE(at::equal(with.fooled, without.fooled));
  EXPECT_TRUE(at::equal(with.first_fooled, without.first_fooled));
  EXPECT_TRUE(at::allclose(with.adversarial, without.adversarial, 0, 1e-6));
  EXPECT_GT(with.fooled.sum().item<int64_t>(), 0);
  EXPECT_LT(with.fooled.sum().item<int64_t>(), 40);  // the test must see both kinds
  EXPECT_FALSE(with.last_iterate.defined());
  ASSERT_TRUE(without.last_fooled.defined());
  // Any-iterate fooling is never kinder than last-iterate fooling.
  EXPECT_TRUE(without.fooled.logical_or(without.last_fooled.logical_not()).all().item<bool>());
  // The recorded adversarial example of a fooled sample is misclassified.
  auto pred = p.model(with.adversarial).argmax(1);
  EXPECT_TRUE(pred.ne(p.y).logical_or(with.fooled.logical_not()).all().item<bool>());
  EXPECT_TRUE(at::equal(pred, with.adv_pred));
}

TEST(RunPgd, MoreRestartsNeverFoolFewerSamples) {
  auto p = make_problem(60, 40);
  auto o = linf(0.06, 3, 0.02, true, 9);
  int64_t previous = -1;
  for (int64_t restarts : {1, 2, 4}) {
    o.restarts = restarts;
    const auto fooled = ma::run_pgd(p.model, p.x, p.y, o).fooled.sum().item<int64_t>();
    EXPECT_GE(fooled, previous) << restarts;
    previous = fooled;
  }
}

TEST(RunPgd, TargetedModesAimAtTheirClasses) {
  auto p = make_problem(30, 50);
  auto o = linf(0.3, 20, 0.03, false, 3);
  o.active_set = false;
  o.target = ma::Target::least_likely;
  auto r = ma::run_pgd(p.model, p.x, p.y, o);
  EXPECT_TRUE(at::equal(r.targets, p.model(p.x).argmin(1)));
  // Descending the target's loss: the target becomes more likely than it was.
  auto target_loss = [&](const at::Tensor& v) {
    return at::cross_entropy_loss(p.model(v), r.targets, {}, at::Reduction::Sum).item<double>();
  };
  EXPECT_LT(target_loss(r.last_iterate), target_loss(p.x));
  EXPECT_TRUE(r.target_hit.defined());
  o.target = ma::Target::random;
  auto rr = ma::run_pgd(p.model, p.x, p.y, o);
  EXPECT_TRUE(rr.targets.ne(p.y).all().item<bool>());
  EXPECT_TRUE(rr.targets.ge(0).logical_and(rr.targets.lt(5)).all().item<bool>());
  EXPECT_TRUE(at::equal(rr.targets, ma::run_pgd(p.model, p.x, p.y, o).targets));  // seeded
  o.target = ma::Target::label;
  o.target_label = 2;
  auto rl = ma::run_pgd(p.model, p.x, p.y, o);
  EXPECT_TRUE(rl.targets.eq(2).all().item<bool>());
  // Descending the target's loss moves predictions towards it.
  EXPECT_GT(p.model(rl.last_iterate).argmax(1).eq(2).sum().item<int64_t>(),
            p.model(p.x).argmax(1).eq(2).sum().item<int64_t>());
}

TEST(RunPgd, ZeroGradientsAreMeasured) {
  ma::ModelFn flat = [](const at::Tensor& x) {
    // round() has a zero derivative everywhere: the textbook gradient-masking model.
    return at::round(x.flatten(1) * 4).narrow(1, 0, 3);
  };
  auto x = at::rand({8, 1, 2, 2});
  auto y = at::zeros({8}, at::kLong);
  auto r = ma::run_pgd(flat, x, y, linf(0.1, 2, 0.05, false, 0));
  EXPECT_DOUBLE_EQ(r.zero_grad_fraction, 1.0);
  auto p = make_problem(8, 60);
  EXPECT_DOUBLE_EQ(ma::run_pgd(p.model, p.x, p.y, linf(0.1, 2, 0.05, false, 0)).zero_grad_fraction, 0.0);
}

TEST(Apgd, CheckpointsFollowAutoAttacksSchedule) {
  // 100 steps: first check after 22, intervals shrinking by 3 down to 6.
  EXPECT_EQ(ma::apgd_checkpoints(100), (std::vector<int64_t>{22, 41, 57, 70, 80, 87, 93, 99}));
  EXPECT_EQ(ma::apgd_checkpoints(10), (std::vector<int64_t>{2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(ma::apgd_checkpoints(1), (std::vector<int64_t>{1}));
}

TEST(Apgd, DlrLossMatchesItsDefinition) {
  auto z = at::tensor({3.0f, 1.0f, 0.5f, -1.0f, 2.0f, 5.0f, 0.0f, 1.0f}).view({2, 4});
  auto y = at::tensor({0L, 0L});
  auto l = ma::dlr_loss(z, y);
  // Sample 0: label is the top logit: −(3 − 1)/(3 − 0.5). Sample 1: −(2 − 5)/(5 − 1).
  EXPECT_NEAR(l[0].item<double>(), -(3.0 - 1.0) / (3.0 - 0.5), 1e-6);
  EXPECT_NEAR(l[1].item<double>(), -(2.0 - 5.0) / (5.0 - 1.0), 1e-6);
  EXPECT_THROW(ma::dlr_loss(at::zeros({2, 2}), at::zeros({2}, at::kLong)), c10::Error);
}

TEST(Apgd, StaysInTheBallAndIsAtLeastAsStrongAsPgd) {
  auto p = make_problem(80, 70);
  ma::ApgdOptions a;
  a.epsilon = 0.05;
  a.steps = 20;
  a.seed = 1;
  auto r = ma::run_apgd(p.model, p.x, p.y, a);
  EXPECT_LE((r.adversarial - p.x).abs().max().item<double>(), 0.05 + 1e-6);
  EXPECT_GE(r.adversarial.min().item<double>(), 0.0);
  EXPECT_LE(r.adversarial.max().item<double>(), 1.0);
  auto pgd = ma::run_pgd(p.model, p.x, p.y, linf(0.05, 10, -1, false, 1));
  EXPECT_GE(r.fooled.sum().item<int64_t>(), pgd.fooled.sum().item<int64_t>());
  a.loss = ma::ApgdLoss::dlr;
  auto d = ma::run_apgd(p.model, p.x, p.y, a);
  EXPECT_GT(d.fooled.sum().item<int64_t>(), 0);
  auto pred = p.model(d.adversarial).argmax(1);
  EXPECT_TRUE(pred.ne(p.y).logical_or(d.fooled.logical_not()).all().item<bool>());
}

namespace {

ma::ApgdOptions apgd(ma::Norm norm, double eps, int64_t steps, uint64_t seed) {
  ma::ApgdOptions a;
  a.norm = norm;
  a.epsilon = eps;
  a.steps = steps;
  a.seed = seed;
  return a;
}

at::Tensor l2_per_sample(const at::Tensor& v) { return v.flatten(1).norm(2, 1); }

}  // namespace

TEST(Apgd, L2FirstStepIsANormalisedStepOfTwoEpsilonProjectedOntoTheBall) {
  auto p = make_problem(9, 80);
  auto a = apgd(ma::Norm::l2, 0.3, 1, 0);
  a.random_start = false;
  a.active_set = false;
  auto r = ma::run_apgd(p.model, p.x, p.y, a);
  // A step of 2ε along g/‖g‖ leaves the ball of radius ε; the projection brings it back to ε.
  auto g = p.model.grad(p.x, p.y);
  auto expected = (p.x + 0.3 * g / l2_per_sample(g).view({-1, 1, 1, 1})).clamp(0, 1);
  ASSERT_TRUE(r.last_iterate.defined());
  EXPECT_TRUE(at::allclose(r.last_iterate, expected, 1e-5, 1e-6));
  // An L∞ step would move every pixel by ±ε before clipping: not what L2 does.
  a.norm = ma::Norm::linf;
  EXPECT_FALSE(at::allclose(ma::run_apgd(p.model, p.x, p.y, a).last_iterate, expected, 1e-3, 1e-3));
}

TEST(Apgd, L2StaysInTheBallAndIsAtLeastAsStrongAsPgdL2) {
  auto p = make_problem(80, 90);
  for (auto loss : {ma::ApgdLoss::ce, ma::ApgdLoss::dlr}) {
    auto a = apgd(ma::Norm::l2, 0.4, 20, 2);
    a.loss = loss;
    a.active_set = false;
    auto r = ma::run_apgd(p.model, p.x, p.y, a);
    EXPECT_LE(l2_per_sample(r.last_iterate - p.x).max().item<double>(), 0.4 + 1e-5);
    EXPECT_LE(l2_per_sample(r.adversarial - p.x).max().item<double>(), 0.4 + 1e-5);
    EXPECT_GE(r.adversarial.min().item<double>(), 0.0);
    EXPECT_LE(r.adversarial.max().item<double>(), 1.0);
    // The random start lies on the sphere (before clipping), so the perturbation is not tiny.
    EXPECT_GT(l2_per_sample(r.last_iterate - p.x).min().item<double>(), 0.1);
    ma::PgdOptions o;
    o.norm = ma::Norm::l2;
    o.epsilon = 0.4;
    o.steps = 10;
    o.random_start = false;
    const auto pgd = ma::run_pgd(p.model, p.x, p.y, o).fooled.sum().item<int64_t>();
    EXPECT_GT(pgd, 0);
    EXPECT_LT(pgd, 80);  // room to be stronger, or weaker
    EXPECT_GE(r.fooled.sum().item<int64_t>(), pgd);
    auto pred = p.model(r.adversarial).argmax(1);
    EXPECT_TRUE(pred.ne(p.y).logical_or(r.fooled.logical_not()).all().item<bool>());
    EXPECT_TRUE(at::equal(pred, r.adv_pred));
  }
}

TEST(Apgd, ActiveSetGivesTheSameVerdictsAsAttackingEverySample) {
  auto p = make_problem(60, 100);
  for (auto norm : {ma::Norm::linf, ma::Norm::l2}) {
    for (auto loss : {ma::ApgdLoss::ce, ma::ApgdLoss::dlr}) {
      auto a = apgd(norm, norm == ma::Norm::linf ? 0.04 : 0.25, 12, 7);
      a.loss = loss;
      a.restarts = 2;
      int64_t rows = 0;
      ma::ModelFn counted = [&](const at::Tensor& v) {
        rows += v.size(0);
        return p.model(v);
      };
      a.active_set = true;
      auto with = ma::run_apgd(counted, p.x, p.y, a, 300);
      const int64_t rows_with = rows;
      rows = 0;
      a.active_set = false;
      auto without = ma::run_apgd(counted, p.x, p.y, a, 300);
      const auto what = ma::to_string(norm) + (loss == ma::ApgdLoss::ce ? " ce" : " dlr");
      EXPECT_TRUE(at::equal(with.fooled, without.fooled)) << what;
      EXPECT_TRUE(at::equal(with.first_fooled, without.first_fooled)) << what;
      EXPECT_TRUE(at::allclose(with.adversarial, without.adversarial, 0, 1e-6)) << what;
      EXPECT_TRUE(at::equal(with.adv_pred, without.adv_pred)) << what;
      const auto fooled = with.fooled.sum().item<int64_t>();
      EXPECT_GT(fooled, 0) << what;
      EXPECT_LT(fooled, 60) << what;  // the test must see both kinds
      // Fooled samples really left the batch: fewer rows went through the model.
      EXPECT_LT(rows_with, rows) << what;
      EXPECT_EQ(rows, 2 * 60 * 13) << what;  // restarts × samples × (start + steps)
      EXPECT_FALSE(with.last_iterate.defined()) << what;
      ASSERT_TRUE(without.last_fooled.defined()) << what;
      EXPECT_TRUE(without.fooled.logical_or(without.last_fooled.logical_not()).all().item<bool>()) << what;
    }
  }
}
