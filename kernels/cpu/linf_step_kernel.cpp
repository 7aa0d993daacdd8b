// CPU kernel for modelgate::linf_step_: the PGD/FGSM L∞ step, projection and clamp in one
// pass over x, grad and x0 (the reference makes six).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

namespace modelgate::kernels {
namespace {

constexpr int64_t kGrain = 32768;
// Elements per strip. GCC's -O2 cost model ("very cheap") vectorizes a loop only when its trip
// count is a known multiple of the vector width, so the hot loop runs in fixed-width strips.
constexpr int64_t kStrip = 16;

void check_like(const at::Tensor& x, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.sizes() == x.sizes(), "linf_step_: ", name, " must have the shape of x ", x.sizes(), ", got ",
              t.sizes());
  TORCH_CHECK(t.scalar_type() == x.scalar_type(), "linf_step_: ", name, " must have x's dtype ",
              x.scalar_type(), ", got ", t.scalar_type());
  TORCH_CHECK(t.device() == x.device(), "linf_step_: ", name, " must be on x's device ", x.device(),
              ", got ", t.device());
}

at::Tensor& linf_step_cpu(at::Tensor& x, const at::Tensor& grad, const at::Tensor& x0, double alpha,
                          double eps) {
  TORCH_CHECK(at::isFloatingType(x.scalar_type()),
              "linf_step_: x must be a floating tensor (float32, float16, bfloat16 or float64), got ",
              x.scalar_type());
  check_like(x, "grad", grad);
  check_like(x, "x0", x0);
  if (x.numel() == 0) return x;
  auto out = x.contiguous();
  const auto g = grad.contiguous(), origin = x0.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "linf_step_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto a = static_cast<acc_t>(alpha), e = static_cast<acc_t>(eps);
    scalar_t* xp = out.data_ptr<scalar_t>();
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* x0p = origin.const_data_ptr<scalar_t>();
    // Half types are computed in float and rounded once, at the store.
    auto step = [&](int64_t i) {
      const acc_t gv = static_cast<acc_t>(gp[i]);
      const acc_t s = static_cast<acc_t>((gv > 0) - (gv < 0));
      const acc_t c = static_cast<acc_t>(x0p[i]);
      const acc_t moved = static_cast<acc_t>(xp[i]) + a * s;
      const acc_t projected = std::min(std::max(moved, c - e), c + e);
      return std::min(std::max(projected, acc_t(0)), acc_t(1));
    };
    at::parallel_for(0, out.numel(), kGrain, [&](int64_t begin, int64_t end) {
      int64_t i = begin;
      for (; i + kStrip <= end; i += kStrip) {
        // Results go through a local buffer: x may alias x0 or grad, and the compiler must not
        // need a runtime overlap check to vectorize.
        acc_t strip[kStrip];
        for (int64_t l = 0; l < kStrip; ++l) strip[l] = step(i + l);
        for (int64_t l = 0; l < kStrip; ++l) xp[i + l] = static_cast<scalar_t>(strip[l]);
      }
      for (; i < end; ++i) xp[i] = static_cast<scalar_t>(step(i));
    });
  });
  if (!out.is_same(x)) x.copy_(out);
  return x;
}

}  // namespace

TORCH_LIBRARY_IMPL(modelgate, CPU, m) { m.impl("linf_step_", TORCH_FN(linf_step_cpu)); }

}  // namespace modelgate::kernels
