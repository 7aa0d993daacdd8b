// Every CPU kernel against its plain-ATen reference (the oracle), on the shapes, layouts and
// dtypes the engine produces and on the awkward ones: one element, odd sizes, partial Philox
// blocks, non-contiguous views, half types. Tolerances are in kernel_test_util.h.
#include "tests/kernels/kernel_test_util.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mk = modelgate::kernels;
namespace ref = modelgate::kernels::ref;
namespace kt = modelgate::kernels::testing;

namespace {

// Shapes: a CIFAR batch, odd sizes with a partial last Philox block, one element, N×D.
const std::vector<std::vector<int64_t>> kShapes = {{128, 3, 32, 32}, {5, 3, 7, 9}, {1, 1, 1, 1}, {3, 10}, {2, 1, 1, 5}};

// The same values as x, laid out non-contiguously: a transposed copy viewed back.
at::Tensor non_contiguous(const at::Tensor& x) {
  auto t = x.transpose(0, x.dim() - 1).contiguous().transpose(0, x.dim() - 1);
  TORCH_INTERNAL_ASSERT(at::equal(t, x));
  return t;
}

std::string shape_name(at::IntArrayRef s) {
  std::string out;
  for (auto v : s) out += std::to_string(v) + "x";
  return out;
}

}  // namespace

TEST(CpuKernels, DispatcherRoutesCpuTensorsToTheCpuKernels) {
  for (const auto& op : mk::operator_names()) EXPECT_EQ(mk::backend_for(op, c10::DeviceType::CPU), "cpu") << op;
}

TEST(CpuKernels, LinfStepIsBitExact) {
  for (const auto& shape : kShapes) {
    auto x0 = kt::rand(shape, 1);
    auto grad = kt::randn(shape, 2);
    grad.view(-1)[0] = 0;  // sign 0
    auto x = (x0 + kt::randn(shape, 3) * 0.05).clamp(0, 1);
    auto want = x.clone(), got = x.clone();
    ref::linf_step_(want, grad, x0, 0.02, 0.03);
    mk::linf_step_(got, grad, x0, 0.02, 0.03);
    EXPECT_TRUE(at::equal(got, want)) << shape_name(shape);
    // x0 aliasing x: the bounds are read before x is written.
    auto a = x0.clone(), b = x0.clone();
    ref::linf_step_(a, grad, a, 0.02, 0.03);
    mk::linf_step_(b, grad, b, 0.02, 0.03);
    EXPECT_TRUE(at::equal(a, b)) << shape_name(shape);
  }
}

TEST(CpuKernels, LinfStepIsBitExactForHalfTypesAndDouble) {
  for (auto dtype : {at::kHalf, at::kBFloat16, at::kDouble}) {
    auto x0 = kt::rand({4, 3, 8, 8}, 4).to(dtype);
    auto grad = kt::randn({4, 3, 8, 8}, 5).to(dtype);
    auto want = (x0 + 0.01).clamp(0, 1), got = want.clone();
    ref::linf_step_(want, grad, x0, 0.007, 0.02);
    mk::linf_step_(got, grad, x0, 0.007, 0.02);
    EXPECT_TRUE(at::equal(got, want)) << dtype;
  }
}

TEST(CpuKernels, LinfStepHandlesNonContiguousOperandsInPlace) {
  auto x0 = kt::rand({4, 3, 5, 7}, 6);
  auto grad = non_contiguous(kt::randn({4, 3, 5, 7}, 7));
  auto want = x0.clone();
  ref::linf_step_(want, grad, x0, 0.05, 0.1);
  auto got = non_contiguous(x0.clone());
  const void* storage = got.data_ptr();
  mk::linf_step_(got, grad, non_contiguous(x0), 0.05, 0.1);
  EXPECT_EQ(got.data_ptr(), storage);
  EXPECT_TRUE(at::equal(got, want));
}

TEST(CpuKernels, L2StepMatchesReference) {
  for (const auto& shape : kShapes) {
    auto x0 = kt::rand(shape, 8);
    auto grad = kt::randn(shape, 9);
    grad[0].zero_();
    auto x = (x0 + kt::randn(shape, 10) * 0.05).clamp(0, 1);
    for (double eps : {0.01, 0.5, 100.0}) {  // mostly projected, sometimes, never
      auto want = x.clone(), got = non_contiguous(x.clone());
      ref::l2_step_(want, grad, x0, 0.1, eps);
      mk::l2_step_(got, grad, x0, 0.1, eps);
      EXPECT_LT(kt::max_abs_diff(got, want), kt::kL2StepTol) << shape_name(shape) << " eps " << eps;
    }
  }
  for (auto dtype : {at::kHalf, at::kBFloat16}) {
    auto x0 = kt::rand({4, 3, 8, 8}, 11).to(dtype);
    auto grad = kt::randn({4, 3, 8, 8}, 12).to(dtype);
    auto want = x0.clone(), got = x0.clone();
    ref::l2_step_(want, grad, x0, 0.5, 0.3);
    mk::l2_step_(got, grad, x0, 0.5, 0.3);
    // One rounding step of the half type at most.
    EXPECT_LT(kt::max_abs_diff(got, want), dtype == at::kHalf ? 1e-3 : 8e-3) << dtype;
  }
}

TEST(CpuKernels, PhiloxBitsAreBitExact) {
  for (const auto& shape : kShapes)
    for (uint64_t seed : {uint64_t{0}, uint64_t{42}, ~uint64_t{0}})
      EXPECT_TRUE(at::equal(mk::philox_bits(at::empty(shape), seed, 3), ref::philox_bits(at::empty(shape), seed, 3)))
          << shape_name(shape) << " seed " << seed;
  // Sample indices past 2^32 use the counter's high word.
  auto x = at::empty({2, 6});
  EXPECT_TRUE(at::equal(mk::philox_bits(x, 1, (int64_t{1} << 32) - 1), ref::philox_bits(x, 1, (int64_t{1} << 32) - 1)));
}

TEST(CpuKernels, UniformBallIsBitExact) {
  for (const auto& shape : kShapes)
    EXPECT_TRUE(at::equal(mk::uniform_ball(at::empty(shape), 0.031, 7, 5), ref::uniform_ball(at::empty(shape), 0.031, 7, 5)))
        << shape_name(shape);
  for (auto dtype : {at::kHalf, at::kBFloat16, at::kDouble}) {
    auto x = at::empty({3, 3, 5, 5}, dtype);
    auto got = mk::uniform_ball(x, 8.0 / 255, 1, 0);
    EXPECT_EQ(got.scalar_type(), dtype);
    EXPECT_TRUE(at::equal(got, ref::uniform_ball(x, 8.0 / 255, 1, 0))) << dtype;
  }
}

TEST(CpuKernels, GaussianNoiseMatchesReferenceWithinUlps) {
  for (const auto& shape : kShapes) {
    auto x = kt::rand(shape, 13);
    auto got = mk::gaussian_noise(non_contiguous(x), 0.08, 17, 9);
    EXPECT_LE(kt::max_abs_diff(got, ref::gaussian_noise(x, 0.08, 17, 9)), kt::kNoiseAbsTol) << shape_name(shape);
  }
  for (auto dtype : {at::kHalf, at::kBFloat16, at::kDouble}) {
    auto x = kt::rand({3, 3, 5, 5}, 14).to(dtype);
    auto got = mk::gaussian_noise(x, 0.1, 2, 0);
    EXPECT_EQ(got.scalar_type(), dtype);
    // The float results agree to a few ulps; the cast can then split them by one ulp of dtype.
    const double ulp = dtype == at::kHalf ? 1.0 / 1024 : dtype == at::kBFloat16 ? 1.0 / 128 : 1e-6;
    EXPECT_LE(kt::max_abs_diff(got, ref::gaussian_noise(x, 0.1, 2, 0)), ulp) << dtype;
  }
}

TEST(CpuKernels, GaussianNoiseBatchSplitMatchesWholeBatch) {
  auto x = kt::rand({10, 3, 4, 4}, 15);
  auto whole = mk::gaussian_noise(x, 0.1, 5, 100);
  auto parts = at::cat({mk::gaussian_noise(x.narrow(0, 0, 3), 0.1, 5, 100),
                        mk::gaussian_noise(x.narrow(0, 3, 7), 0.1, 5, 103)});
  EXPECT_TRUE(at::equal(whole, parts));
  auto u = mk::uniform_ball(x, 0.1, 5, 100);
  EXPECT_TRUE(at::equal(u, at::cat({mk::uniform_ball(x.narrow(0, 0, 4), 0.1, 5, 100),
                                    mk::uniform_ball(x.narrow(0, 4, 6), 0.1, 5, 104)})));
}

TEST(CpuKernels, GaussianBlurMatchesReference) {
  for (const auto& shape : std::vector<std::vector<int64_t>>{{128, 3, 32, 32}, {2, 3, 9, 11}, {1, 1, 3, 3}, {1, 2, 1, 1}}) {
    auto x = kt::rand(shape, 16);
    for (int64_t k : {1, 3, 5, 7}) {
      if (k / 2 >= shape[2] || k / 2 >= shape[3]) continue;
      EXPECT_LT(kt::max_abs_diff(mk::gaussian_blur(non_contiguous(x), k, 0), ref::gaussian_blur(x, k, 0)),
                kt::kFloatSumTol)
          << shape_name(shape) << " k=" << k;
    }
  }
  for (auto dtype : {at::kHalf, at::kBFloat16, at::kDouble}) {
    auto x = kt::rand({2, 3, 8, 8}, 17).to(dtype);
    auto got = mk::gaussian_blur(x, 5, 1.2);
    EXPECT_EQ(got.scalar_type(), dtype);
    const double tol = dtype == at::kHalf ? 1e-3 : dtype == at::kBFloat16 ? 8e-3 : kt::kFloatSumTol;
    EXPECT_LT(kt::max_abs_diff(got, ref::gaussian_blur(x, 5, 1.2)), tol) << dtype;
  }
}

TEST(CpuKernels, SignSketchIsBitExact) {
  // Uniform float32 inputs are multiples of 2^-24, so both float64 sums are exact and the
  // signs must agree everywhere.
  const std::vector<std::vector<int64_t>> shapes = {{128, 4096}, {3, 3, 7, 9}, {1, 1}, {5, 130}};
  for (const auto& shape : shapes)
    for (int64_t bits : {1, 31, 256}) {
      auto x = kt::rand(shape, 21) - 0.5;
      EXPECT_TRUE(at::equal(mk::sign_sketch(non_contiguous(x), bits, 77), ref::sign_sketch(x, bits, 77)))
          << shape_name(shape) << " bits " << bits;
    }
  for (auto dtype : {at::kHalf, at::kBFloat16, at::kDouble}) {
    auto x = (kt::rand({9, 200}, 22) - 0.5).to(dtype);
    EXPECT_TRUE(at::equal(mk::sign_sketch(x, 64, 1), ref::sign_sketch(x, 64, 1))) << dtype;
  }
}

TEST(CpuKernels, ErrorsSurfaceAsC10Errors) {
  auto xi = at::zeros({2, 3, 4, 4}, at::kInt);
  EXPECT_THROW(mk::gaussian_noise(xi, 0.1, 0, 0), c10::Error);
  EXPECT_THROW(mk::uniform_ball(xi, 0.1, 0, 0), c10::Error);
  EXPECT_THROW(mk::gaussian_blur(xi, 3, 0), c10::Error);
  EXPECT_THROW(mk::sign_sketch(xi, 8, 0), c10::Error);
  auto x = at::zeros({2, 3});
  EXPECT_THROW(mk::linf_step_(x, at::zeros({2, 3}), at::zeros({2, 3, 1}), 0.1, 0.1), c10::Error);
  EXPECT_THROW(mk::l2_step_(x, at::zeros({2, 3}, at::kDouble), at::zeros({2, 3}), 0.1, 0.1), c10::Error);
  EXPECT_THROW(mk::gaussian_blur(at::zeros({2, 3, 4}), 3, 0), c10::Error);
  EXPECT_THROW(mk::sign_sketch(x, -1, 0), c10::Error);
}
