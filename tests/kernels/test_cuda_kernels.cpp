// The CUDA kernels against their oracles: the CPU kernels (the dispatcher on CPU tensors) and
// the plain-ATen reference (kernels::ref), on the same inputs, with the tolerance each
// operator's contract states:
//   philox_bits, uniform_ball, linf_step_      bit-identical
//   gaussian_blur                              bit-identical by construction; checked to 1e-6
//                                              (CPU) and 1e-5 (reference: ATen's conv sums in
//                                              another order)
//   gaussian_noise                             a few ulps (CUDA's and glibc's double log/sincos
//                                              may round differently); ≥ 99.9% exactly equal
//   l2_step_                                   1e-6 (only the double norms' summation order
//                                              differs)
//   sign_sketch                                exact, except where |Σ x·s| < 1e-5·Σ|x|
// Every test that needs a device skips without one, so the suite compiles, links and passes
// on CPU-only machines; the registration test runs everywhere.
#include "kernels/ops.h"
#include "kernels/philox.h"
#include "kernels/reference_ops.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace mk = modelgate::kernels;

namespace {

constexpr uint64_t kSeed = 0x9E3779B97F4A7C15ULL;

at::Tensor cuda(const at::Tensor& t) { return t.to(at::Device(at::kCUDA, 0)); }

at::Tensor uniform(at::IntArrayRef sizes, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::rand(sizes, gen);
}

at::Tensor normal(at::IntArrayRef sizes, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(sizes, gen);
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  if (a.numel() == 0) return 0;
  return (a.cpu().to(at::kDouble) - b.cpu().to(at::kDouble)).abs().max().item<double>();
}

// Exact equality of values and shape, on the CPU (so the devices may differ).
::testing::AssertionResult same(const at::Tensor& got, const at::Tensor& want) {
  if (got.sizes() != want.sizes())
    return ::testing::AssertionFailure() << "shape " << got.sizes() << " != " << want.sizes();
  if (got.scalar_type() != want.scalar_type())
    return ::testing::AssertionFailure() << "dtype " << got.scalar_type() << " != " << want.scalar_type();
  if (at::equal(got.cpu(), want.cpu())) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "values differ; max |diff| = " << max_abs_diff(got, want);
}

::testing::AssertionResult close(const at::Tensor& got, const at::Tensor& want, double atol, double rtol = 0) {
  if (got.sizes() != want.sizes())
    return ::testing::AssertionFailure() << "shape " << got.sizes() << " != " << want.sizes();
  if (got.scalar_type() != want.scalar_type())
    return ::testing::AssertionFailure() << "dtype " << got.scalar_type() << " != " << want.scalar_type();
  const auto g = got.cpu().to(at::kDouble), w = want.cpu().to(at::kDouble);
  if (at::allclose(g, w, rtol, atol, /*equal_nan=*/true)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max |diff| = " << max_abs_diff(g, w) << " > atol " << atol << " + rtol "
                                       << rtol << "·|want|";
}

// Shapes with odd per-sample sizes (tails of the four-element Philox groups and of the
// vector loads), one element, and a larger batch.
std::vector<std::vector<int64_t>> sample_shapes() {
  return {{3, 5, 7}, {4, 16}, {1, 1}, {1}, {2, 3, 4, 4}, {5, 1, 3, 3}, {64, 3, 32, 32}};
}

}  // namespace

// ---------------------------------------------------------------------------- registration

TEST(CudaKernels, EveryOperatorHasACudaKernelWhenCompiled) {
  // Registration needs no device, so this runs on CPU-only machines too.
  if (!mk::cuda_kernels_compiled()) GTEST_SKIP() << "built without CUDA kernels (no nvcc)";
  for (const auto& op : mk::operator_names()) EXPECT_EQ(mk::backend_for(op, c10::DeviceType::CUDA), "cuda") << op;
}

// ---------------------------------------------------------------------------- random streams

TEST(CudaKernels, PhiloxBitsMatchTheCpuBitForBit) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const std::vector<std::pair<uint64_t, int64_t>> keys{{0, 0}, {kSeed, 7}, {~0ULL, int64_t{1} << 40}};
  for (const auto& shape : sample_shapes())
    for (const auto& [seed, first] : keys) {
      const auto x = uniform(shape, 1);
      const auto got = mk::philox_bits(cuda(x), seed, first);
      EXPECT_TRUE(got.is_cuda());
      EXPECT_TRUE(same(got, mk::philox_bits(x, seed, first))) << at::IntArrayRef(shape);
      EXPECT_TRUE(same(got, mk::ref::philox_bits(x, static_cast<int64_t>(seed), first))) << at::IntArrayRef(shape);
    }
}

TEST(CudaKernels, PhiloxBitsFollowTheStreamLayout) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const int64_t n = 3, d = 11, first = 5;
  const auto got = mk::philox_bits(cuda(at::zeros({n, d})), kSeed, first).cpu();
  const auto* p = got.const_data_ptr<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t e = 0; e < d; ++e) {
      const auto w =
          mk::philox::draw(kSeed, static_cast<uint64_t>(first + i), static_cast<uint64_t>(e / 4), mk::philox::kBits);
      EXPECT_EQ(static_cast<uint32_t>(p[i * d + e]), w.v[e % 4]) << "sample " << i << " element " << e;
    }
}

TEST(CudaKernels, PhiloxBitsIgnoreDtypeAndLayout) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto x = uniform({4, 6, 5}, 2);
  const auto want = mk::philox_bits(cuda(x), kSeed, 0);
  EXPECT_TRUE(same(mk::philox_bits(cuda(x).to(at::kHalf), kSeed, 0), want));
  EXPECT_TRUE(same(mk::philox_bits(cuda(x).transpose(1, 2), kSeed, 0),
                   mk::philox_bits(cuda(x).transpose(1, 2).contiguous(), kSeed, 0)));
}

TEST(CudaKernels, UniformBallMatchesTheCpuBitForBit) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (const auto& shape : sample_shapes())
    for (const double eps : {8.0 / 255.0, 0.1, 1.0}) {
      const auto x = uniform(shape, 3);
      const auto got = mk::uniform_ball(cuda(x), eps, kSeed, 11);
      EXPECT_TRUE(same(got, mk::uniform_ball(x, eps, kSeed, 11))) << at::IntArrayRef(shape) << " eps " << eps;
      EXPECT_TRUE(same(got, mk::ref::uniform_ball(x, eps, static_cast<int64_t>(kSeed), 11)))
          << at::IntArrayRef(shape) << " eps " << eps;
      EXPECT_LE(got.abs().max().item<float>(), static_cast<float>(eps));
    }
}

TEST(CudaKernels, GaussianNoiseMatchesTheCpuToAFewUlps) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (const auto& shape : sample_shapes())
    for (const double level : {0.05, 0.5}) {
      const auto x = uniform(shape, 4);
      const auto got = mk::gaussian_noise(cuda(x), level, kSeed, 3);
      const auto cpu = mk::gaussian_noise(x, level, kSeed, 3);
      // |z| < 6 here, so one float ulp of z moves the output by level·4.8e-7 at most.
      EXPECT_TRUE(close(got, cpu, 2e-6)) << at::IntArrayRef(shape) << " level " << level;
      EXPECT_TRUE(close(got, mk::ref::gaussian_noise(x, level, static_cast<int64_t>(kSeed), 3), 2e-6))
          << at::IntArrayRef(shape) << " level " << level;
      // Both run Box-Muller in double: the float results differ only where a libm's double
      // lands on the other side of a float rounding boundary, which is rare.
      const double exact = got.cpu().eq(cpu).to(at::kDouble).mean().item<double>();
      EXPECT_GE(exact, 0.999) << at::IntArrayRef(shape) << " level " << level;
      EXPECT_GE(got.min().item<float>(), 0.0f);
      EXPECT_LE(got.max().item<float>(), 1.0f);
    }
}

TEST(CudaKernels, GaussianNoiseIsStandardNormal) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  // Mid-grey input and a small level: the clamp never bites, so (out − x)/level is z.
  const auto x = at::full({64, 3, 32, 32}, 0.5f);
  const auto z = (mk::gaussian_noise(cuda(x), 0.01, kSeed, 0).cpu().to(at::kDouble) - 0.5) / 0.01;
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 0.01);  // 196608 draws: standard error 0.0023
  EXPECT_NEAR(z.std().item<double>(), 1.0, 0.01);
}

TEST(CudaKernels, GaussianNoiseHalfTypesMatchTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  // Both compute in float and round once to the half type; a rare one-ulp difference in z
  // can move that rounding by one half-type ulp (2^-11, bfloat16 2^-8, below 1).
  for (const auto& [dtype, atol] : {std::pair{at::kHalf, 1e-3}, std::pair{at::kBFloat16, 8e-3}})
    for (const auto& shape : sample_shapes()) {
      const auto x = uniform(shape, 5).to(dtype);
      const auto got = mk::gaussian_noise(cuda(x), 0.1, kSeed, 0);
      EXPECT_EQ(got.scalar_type(), dtype);
      EXPECT_TRUE(close(got, mk::gaussian_noise(x, 0.1, kSeed, 0), atol)) << dtype << at::IntArrayRef(shape);
    }
}

TEST(CudaKernels, RandomStreamsAreBatchIndependent) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  // Samples 2..4 drawn alone (first_index 2) equal rows 2..4 of the whole batch.
  const auto x = cuda(uniform({7, 3, 5, 5}, 6));
  const auto part = x.narrow(0, 2, 3);
  EXPECT_TRUE(same(mk::gaussian_noise(part, 0.2, kSeed, 2), mk::gaussian_noise(x, 0.2, kSeed, 0).narrow(0, 2, 3)));
  EXPECT_TRUE(same(mk::uniform_ball(part, 0.1, kSeed, 2), mk::uniform_ball(x, 0.1, kSeed, 0).narrow(0, 2, 3)));
  EXPECT_TRUE(same(mk::philox_bits(part, kSeed, 2), mk::philox_bits(x, kSeed, 0).narrow(0, 2, 3)));
}

TEST(CudaKernels, RandomStreamsHandleLayoutAndEmptyInputs) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto base = cuda(uniform({4, 3, 6, 5}, 7));
  const auto strided = base.transpose(2, 3);  // non-contiguous
  EXPECT_TRUE(
      same(mk::gaussian_noise(strided, 0.1, kSeed, 0), mk::gaussian_noise(strided.contiguous(), 0.1, kSeed, 0)));
  EXPECT_TRUE(same(mk::uniform_ball(strided, 0.1, kSeed, 0), mk::uniform_ball(strided.contiguous(), 0.1, kSeed, 0)));
  // A storage offset that breaks 16-byte alignment takes the scalar path.
  const auto flat = cuda(uniform({1 + 4 * 12}, 8));
  const auto shifted = flat.narrow(0, 1, 4 * 12).view({4, 12});
  EXPECT_TRUE(same(mk::gaussian_noise(shifted, 0.1, kSeed, 0), mk::gaussian_noise(shifted.clone(), 0.1, kSeed, 0)));
  for (const auto& shape : std::vector<std::vector<int64_t>>{{0, 3, 4}, {2, 0}, {0}}) {
    const auto e = cuda(at::zeros(shape));
    EXPECT_EQ(mk::gaussian_noise(e, 0.1, kSeed, 0).sizes(), e.sizes());
    EXPECT_EQ(mk::uniform_ball(e, 0.1, kSeed, 0).sizes(), e.sizes());
    EXPECT_EQ(mk::philox_bits(e, kSeed, 0).sizes(), e.sizes());
  }
}

TEST(CudaKernels, RandomStreamsRejectBadInputs) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  EXPECT_THROW(mk::gaussian_noise(cuda(at::zeros({}, at::kFloat)), 0.1, 0, 0), c10::Error);  // no sample dim
  EXPECT_THROW(mk::gaussian_noise(cuda(at::zeros({2, 3}, at::kInt)), 0.1, 0, 0), c10::Error);
  EXPECT_THROW(mk::uniform_ball(cuda(at::zeros({2, 3}, at::kInt)), 0.1, 0, 0), c10::Error);
  EXPECT_THROW(mk::philox_bits(cuda(at::zeros({}, at::kFloat)), 0, 0), c10::Error);
}

// ---------------------------------------------------------------------------- attack steps

TEST(CudaKernels, LinfStepMatchesTheCpuBitForBit) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (const auto& shape : sample_shapes())
    for (const auto dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
      const auto x0 = uniform(shape, 10).to(dtype);
      auto grad = normal(shape, 11).to(dtype);
      grad.view(-1).narrow(0, 0, 1).zero_();  // sign(0) = 0: no move
      const auto start = (x0 + (uniform(shape, 12) - 0.5) * 0.05).clamp(0, 1).to(dtype);
      auto x_cpu = start.clone();
      auto x_cuda = cuda(start);
      auto& returned = mk::linf_step_(x_cuda, cuda(grad), cuda(x0), 0.01, 8.0 / 255.0);
      EXPECT_TRUE(returned.is_same(x_cuda));
      mk::linf_step_(x_cpu, grad, x0, 0.01, 8.0 / 255.0);
      EXPECT_TRUE(same(x_cuda, x_cpu)) << dtype << at::IntArrayRef(shape);
      auto x_ref = start.clone();
      mk::ref::linf_step_(x_ref, grad, x0, 0.01, 8.0 / 255.0);
      EXPECT_TRUE(same(x_cuda, x_ref)) << dtype << at::IntArrayRef(shape);
    }
}

TEST(CudaKernels, LinfStepHandlesLayoutAliasingAndTails) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto x0 = uniform({4, 3, 7, 5}, 13), grad = normal({4, 3, 7, 5}, 14);
  // Non-contiguous x: stepped through a copy and written back into the view.
  auto base_cpu = x0.clone().transpose(2, 3).contiguous();
  auto base_cuda = cuda(base_cpu);
  auto view_cpu = base_cpu.transpose(2, 3);
  auto view_cuda = base_cuda.transpose(2, 3);
  mk::linf_step_(view_cuda, cuda(grad), cuda(x0), 0.02, 0.03);
  mk::linf_step_(view_cpu, grad, x0, 0.02, 0.03);
  EXPECT_TRUE(same(base_cuda, base_cpu));
  // x0 aliasing x (an FGSM-style step from the start point).
  auto a_cuda = cuda(x0);
  auto a_cpu = x0.clone();
  mk::linf_step_(a_cuda, cuda(grad), a_cuda, 0.02, 0.03);
  mk::linf_step_(a_cpu, grad, a_cpu, 0.02, 0.03);
  EXPECT_TRUE(same(a_cuda, a_cpu));
  // 4·25 + 3 elements at an odd storage offset: misaligned, with a tail.
  const auto flat = uniform({104}, 15), g = normal({104}, 16);
  auto m_cuda = cuda(flat).narrow(0, 1, 103);
  auto m_cpu = flat.narrow(0, 1, 103).clone();
  mk::linf_step_(m_cuda, cuda(g).narrow(0, 1, 103), cuda(flat).narrow(0, 1, 103), 0.05, 0.1);
  mk::linf_step_(m_cpu, g.narrow(0, 1, 103).clone(), flat.narrow(0, 1, 103).clone(), 0.05, 0.1);
  EXPECT_TRUE(same(m_cuda, m_cpu));
  // Empty input is returned untouched.
  auto e = cuda(at::zeros({0, 3}));
  EXPECT_TRUE(mk::linf_step_(e, e, e, 0.1, 0.1).is_same(e));
}

TEST(CudaKernels, StepsRejectDeviceMixesAndBadDtypes) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto x = cuda(uniform({2, 8}, 17));
  const auto g_cpu = normal({2, 8}, 18), x0 = cuda(uniform({2, 8}, 19));
  EXPECT_THROW(mk::linf_step_(x, g_cpu, x0, 0.1, 0.1), c10::Error);
  EXPECT_THROW(mk::l2_step_(x, g_cpu, x0, 0.1, 0.1), c10::Error);
  EXPECT_THROW(mk::linf_step_(x, cuda(g_cpu), x0.to(at::kHalf), 0.1, 0.1), c10::Error);
  EXPECT_THROW(mk::linf_step_(x, cuda(g_cpu), x0.narrow(1, 0, 4), 0.1, 0.1), c10::Error);
  auto xi = x.to(at::kInt);
  EXPECT_THROW(mk::linf_step_(xi, xi, xi, 0.1, 0.1), c10::Error);
  EXPECT_THROW(mk::l2_step_(xi, xi, xi, 0.1, 0.1), c10::Error);
}

TEST(CudaKernels, L2StepMatchesTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  // Sample 0 has a zero gradient (no move); small alpha keeps some samples inside the ball,
  // large alpha pushes the others onto it.
  for (const auto& shape : sample_shapes())
    for (const auto& [alpha, eps] : {std::pair{0.01, 0.5}, std::pair{2.0, 0.5}, std::pair{0.5, 1e-3}}) {
      const auto x0 = uniform(shape, 20);
      auto grad = normal(shape, 21);
      grad.select(0, 0).zero_();
      const auto start = (x0 + (uniform(shape, 22) - 0.5) * 0.02).clamp(0, 1);
      auto x_cuda = cuda(start);
      auto x_cpu = start.clone();
      auto x_ref = start.clone();
      EXPECT_TRUE(mk::l2_step_(x_cuda, cuda(grad), cuda(x0), alpha, eps).is_same(x_cuda));
      mk::l2_step_(x_cpu, grad, x0, alpha, eps);
      mk::ref::l2_step_(x_ref, grad, x0, alpha, eps);
      // Only the double norms' summation order differs; a one-ulp change in a float scale
      // moves an element by far less than 1e-6.
      EXPECT_TRUE(close(x_cuda, x_cpu, 1e-6)) << at::IntArrayRef(shape) << " alpha " << alpha << " eps " << eps;
      EXPECT_TRUE(close(x_cuda, x_ref, 1e-6)) << at::IntArrayRef(shape) << " alpha " << alpha << " eps " << eps;
      // The contract itself: inside the ball (up to rounding) and inside [0, 1].
      const int64_t n = start.size(0);
      const auto d = (x_cuda.cpu() - x0).reshape({n, -1}).to(at::kDouble);
      EXPECT_LE(d.square().sum(1).sqrt().max().item<double>(), eps * (1 + 1e-5) + 1e-6);
      EXPECT_GE(x_cuda.min().item<float>(), 0.0f);
      EXPECT_LE(x_cuda.max().item<float>(), 1.0f);
    }
}

TEST(CudaKernels, L2StepIsBatchIndependentAndHandlesLayout) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  // 3·64·64 elements per sample: several reduction parts per sample.
  const auto x0 = cuda(uniform({6, 3, 64, 64}, 23)), grad = cuda(normal({6, 3, 64, 64}, 24));
  auto whole = x0.clone();
  mk::l2_step_(whole, grad, x0, 1.0, 0.5);
  auto part = x0.narrow(0, 2, 3).clone();
  mk::l2_step_(part, grad.narrow(0, 2, 3), x0.narrow(0, 2, 3), 1.0, 0.5);
  EXPECT_TRUE(same(part, whole.narrow(0, 2, 3)));
  // A non-contiguous x is written back in place.
  auto base = x0.transpose(2, 3).contiguous();
  auto view = base.transpose(2, 3);
  mk::l2_step_(view, grad, x0, 1.0, 0.5);
  EXPECT_TRUE(same(base.transpose(2, 3), whole));
  auto e = cuda(at::zeros({0, 3}));
  EXPECT_TRUE(mk::l2_step_(e, e, e, 0.1, 0.1).is_same(e));
}

// ---------------------------------------------------------------------------- blur

namespace {

// Two orders of summing k positive taps of values in [0, 1]: each pass is within (k − 1)·2⁻²⁴
// of exact, so two passes in two orders differ by less than 4·k·2⁻²⁴ (2.4e-5 at k = 99).
double blur_tolerance(int64_t k) { return std::max(1e-5, 4.0 * static_cast<double>(k) / 16777216.0); }

}  // namespace

TEST(CudaKernels, GaussianBlurMatchesTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  struct Case {
    std::vector<int64_t> shape;
    int64_t k;
    double sigma;
  };
  // Sizes that are not multiples of the 64×16 tile, the largest border a size allows
  // (k/2 = H−1), the specialised k = 3 and 5, the generic path and the tall tiles (k > 17).
  const std::vector<Case> cases{{{2, 3, 37, 45}, 3, 0},  {{2, 3, 37, 45}, 5, 1.5},  {{1, 2, 5, 9}, 9, 0},
                                {{1, 1, 1, 1}, 1, 0},    {{3, 1, 8, 8}, 7, 0},      {{1, 3, 70, 130}, 21, 0},
                                {{1, 1, 60, 61}, 99, 0}, {{4, 3, 32, 32}, 11, 2.0}, {{1, 1, 2, 300}, 3, 0}};
  for (const auto& c : cases) {
    const auto x = uniform(c.shape, 30);
    const auto got = mk::gaussian_blur(cuda(x), c.k, c.sigma);
    EXPECT_TRUE(close(got, mk::gaussian_blur(x, c.k, c.sigma), 1e-6)) << at::IntArrayRef(c.shape) << " k " << c.k;
    EXPECT_TRUE(close(got, mk::ref::gaussian_blur(x, c.k, c.sigma), blur_tolerance(c.k)))
        << at::IntArrayRef(c.shape) << " k " << c.k;
  }
}

TEST(CudaKernels, GaussianBlurHalfTypesMatchTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  // Same float arithmetic, one rounding to the half type: one half-type ulp at most.
  for (const auto& [dtype, atol] : {std::pair{at::kHalf, 1e-3}, std::pair{at::kBFloat16, 8e-3}})
    for (const int64_t k : {3, 5, 9}) {
      const auto x = uniform({2, 3, 19, 23}, 31).to(dtype);
      const auto got = mk::gaussian_blur(cuda(x), k, 0);
      EXPECT_EQ(got.scalar_type(), dtype);
      EXPECT_TRUE(close(got, mk::gaussian_blur(x, k, 0), atol)) << dtype << " k " << k;
    }
}

TEST(CudaKernels, GaussianBlurHandlesLayoutWideKernelsAndErrors) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto x = uniform({2, 3, 24, 20}, 32);
  const auto want = mk::gaussian_blur(x, 5, 0);
  EXPECT_TRUE(close(mk::gaussian_blur(cuda(x).contiguous(at::MemoryFormat::ChannelsLast), 5, 0), want, 1e-6));
  // Past 99 taps the reference (ATen convolutions) serves the CUDA tensor; without TF32, as the
  // engine runs it.
  const bool tf32 = at::globalContext().allowTF32CuDNN();
  at::globalContext().setAllowTF32CuDNN(false);
  const auto big = uniform({1, 1, 64, 64}, 33);
  EXPECT_TRUE(close(mk::gaussian_blur(cuda(big), 101, 0), mk::gaussian_blur(big, 101, 0), blur_tolerance(101)));
  at::globalContext().setAllowTF32CuDNN(tf32);
  EXPECT_EQ(mk::gaussian_blur(cuda(at::zeros({0, 3, 8, 8})), 3, 0).sizes(), at::IntArrayRef({0, 3, 8, 8}));
  EXPECT_THROW(mk::gaussian_blur(cuda(x), 4, 0), std::invalid_argument);
  EXPECT_THROW(mk::gaussian_blur(cuda(x), 41, 0), std::invalid_argument);  // 20 columns allow k ≤ 39
  EXPECT_THROW(mk::gaussian_blur(cuda(x).view({2, 3, 480}), 3, 0), c10::Error);
  EXPECT_THROW(mk::gaussian_blur(cuda(x).to(at::kInt), 3, 0), c10::Error);
}

// ---------------------------------------------------------------------------- statistics

// ---------------------------------------------------------------------------- sign sketch

namespace {

// The contract's ±1 matrix [bits, d] in float64: s_bj from bit j % 32 of word (j / 32) % 4 of
// Philox block (seed, b, j / 128, kSketch).
at::Tensor sketch_signs(int64_t bits, int64_t d, uint64_t seed) {
  auto s = at::empty({bits, d}, at::kDouble);
  double* p = s.data_ptr<double>();
  for (int64_t b = 0; b < bits; ++b)
    for (int64_t j0 = 0; j0 < d; j0 += 128) {
      const auto w =
          mk::philox::draw(seed, static_cast<uint64_t>(b), static_cast<uint64_t>(j0 / 128), mk::philox::kSketch);
      for (int64_t j = j0; j < std::min(d, j0 + 128); ++j)
        p[b * d + j] = (w.v[(j / 32) % 4] >> (j % 32)) & 1u ? 1.0 : -1.0;
    }
  return s;
}

// Bits of `got` that disagree with the exact sign of Σ x·s, outside the tolerance band
// |Σ x·s| < 1e-5·Σ|x| where float accumulation may legitimately flip them.
::testing::AssertionResult sketch_agrees(const at::Tensor& got, const at::Tensor& x, int64_t bits, uint64_t seed) {
  const int64_t n = x.size(0);
  const auto flat = x.reshape({n, -1}).to(at::kDouble);
  const auto sums = flat.matmul(sketch_signs(bits, flat.size(1), seed).t());
  const auto band = flat.abs().sum(1, /*keepdim=*/true) * 1e-5;
  if (got.sizes() != at::IntArrayRef({n, bits})) return ::testing::AssertionFailure() << "shape " << got.sizes();
  const auto wrong = got.cpu().to(at::kBool).ne(sums.ge(0)).logical_and(sums.abs().ge(band));
  const int64_t count = wrong.sum().item<int64_t>();
  if (count == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << count << " of " << n * bits << " bits disagree with the exact sign";
}

}  // namespace

TEST(CudaKernels, SignSketchMatchesTheExactSigns) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  struct Case {
    std::vector<int64_t> shape;
    int64_t bits;
  };
  // Partial tiles in samples, bits and features; one feature; one bit; a wide sample whose
  // features are split across blocks and merged by the second kernel.
  const std::vector<Case> cases{{{5, 1000}, 37}, {{70, 3, 10, 10}, 130}, {{3, 1}, 64},
                                {{1, 129}, 1},   {{8, 65536}, 64},       {{2, 64}, 256}};
  for (const auto& c : cases) {
    const auto x = normal(c.shape, 50);
    const auto got = mk::sign_sketch(cuda(x), c.bits, kSeed);
    EXPECT_EQ(got.scalar_type(), at::kByte);
    EXPECT_TRUE(sketch_agrees(got, x, c.bits, kSeed)) << at::IntArrayRef(c.shape) << " bits " << c.bits;
    EXPECT_TRUE(sketch_agrees(mk::sign_sketch(x, c.bits, kSeed), x, c.bits, kSeed)) << "CPU";
    EXPECT_TRUE(sketch_agrees(mk::ref::sign_sketch(x, c.bits, static_cast<int64_t>(kSeed)), x, c.bits, kSeed))
        << "reference";
  }
}

TEST(CudaKernels, SignSketchIsDeterministicAndBatchIndependent) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto x = normal({130, 4096}, 51);
  const auto a = mk::sign_sketch(cuda(x), 256, kSeed);
  EXPECT_TRUE(same(a, mk::sign_sketch(cuda(x), 256, kSeed)));
  // Another batch size may split the features differently: bits can change only inside the
  // tolerance band, which sketch_agrees allows.
  const auto part = mk::sign_sketch(cuda(x.narrow(0, 60, 5)), 256, kSeed);
  EXPECT_TRUE(sketch_agrees(part, x.narrow(0, 60, 5), 256, kSeed));
  EXPECT_TRUE(sketch_agrees(a.narrow(0, 60, 5), x.narrow(0, 60, 5), 256, kSeed));
  // Non-contiguous input.
  const auto y = normal({6, 5, 7}, 52);
  EXPECT_TRUE(same(mk::sign_sketch(cuda(y).transpose(1, 2), 40, kSeed),
                   mk::sign_sketch(cuda(y).transpose(1, 2).contiguous(), 40, kSeed)));
}

TEST(CudaKernels, SignSketchEdgeCases) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  EXPECT_EQ(mk::sign_sketch(cuda(at::zeros({0, 8})), 16, kSeed).sizes(), at::IntArrayRef({0, 16}));
  const auto empty_features = mk::sign_sketch(cuda(at::zeros({3, 0})), 16, kSeed);
  EXPECT_TRUE(same(empty_features, at::ones({3, 16}, at::kByte)));  // Σ over nothing is 0 ≥ 0
  EXPECT_THROW(mk::sign_sketch(cuda(at::zeros({2, 8})), 0, kSeed), c10::Error);
  EXPECT_THROW(mk::sign_sketch(cuda(at::zeros({2, 8}, at::kInt)), 8, kSeed), c10::Error);
}

// ---------------------------------------------------------------------------- debug switch

TEST(CudaKernels, SyncSwitchChangesNoResult) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto x = cuda(uniform({4, 3, 16, 16}, 60)), g = cuda(normal({4, 3, 16, 16}, 61));
  auto run_all = [&] {
    auto a = x.clone(), b = x.clone();
    mk::linf_step_(a, g, x, 0.01, 0.03);
    mk::l2_step_(b, g, x, 0.5, 1.0);
    return std::vector<at::Tensor>{a,
                                   b,
                                   mk::gaussian_noise(x, 0.1, kSeed, 0),
                                   mk::uniform_ball(x, 0.1, kSeed, 0),
                                   mk::philox_bits(x, kSeed, 0),
                                   mk::gaussian_blur(x, 5, 0),
                                   mk::sign_sketch(x, 64, kSeed)};
  };
  const auto plain = run_all();
  ASSERT_EQ(setenv("MODELGATE_CUDA_SYNC", "1", 1), 0);
  const auto synced = run_all();
  unsetenv("MODELGATE_CUDA_SYNC");
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_TRUE(same(synced[i], plain[i])) << "result " << i;
}
