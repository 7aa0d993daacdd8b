// CPU kernel for modelgate::l2_step_: per sample, the gradient norm, the step, the perturbation
// norm and the projection. Samples are independent and small enough to stay in cache, so the
// three passes over one sample cost about one pass over memory.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>

namespace modelgate::kernels {
namespace {

void check_like(const at::Tensor& x, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.sizes() == x.sizes(), "l2_step_: ", name, " must have the shape of x ", x.sizes(), ", got ",
              t.sizes());
  TORCH_CHECK(t.scalar_type() == x.scalar_type(), "l2_step_: ", name, " must have x's dtype ", x.scalar_type(),
              ", got ", t.scalar_type());
  TORCH_CHECK(t.device() == x.device(), "l2_step_: ", name, " must be on x's device ", x.device(), ", got ",
              t.device());
}

// Elements per strip. GCC's -O2 cost model ("very cheap") vectorizes a loop only when its trip
// count is a known multiple of the vector width, so the loops run in fixed-width strips, and
// the norms keep one partial sum per lane.
constexpr int64_t kStrip = 8;

// Σ f(e)² over e < d in double, f returning acc_t.
template <typename F>
double sum_of_squares(int64_t d, F f) {
  double lanes[kStrip] = {};
  int64_t e = 0;
  for (; e + kStrip <= d; e += kStrip)
    for (int64_t l = 0; l < kStrip; ++l) {
      const double v = f(e + l);
      lanes[l] += v * v;
    }
  double total = 0;
  for (; e < d; ++e) {
    const double v = f(e);
    total += v * v;
  }
  for (int64_t l = 0; l < kStrip; ++l) total += lanes[l];
  return total;
}

template <typename scalar_t>
void step_samples(scalar_t* x, const scalar_t* g, const scalar_t* x0, int64_t d, int64_t begin, int64_t end,
                  double alpha, double eps) {
  using acc_t = at::opmath_type<scalar_t>;
  for (int64_t i = begin; i < end; ++i) {
    scalar_t* xi = x + i * d;
    const scalar_t* gi = g + i * d;
    const scalar_t* x0i = x0 + i * d;
    const double gn = std::sqrt(sum_of_squares(d, [&](int64_t e) { return static_cast<acc_t>(gi[e]); }));
    const auto scale = static_cast<acc_t>(gn > 0 ? alpha / gn : 0.0);
    // The perturbation after the step is recomputed in the last pass instead of stored: one
    // multiply-add is cheaper than a scratch buffer.
    auto delta = [&](int64_t e) {
      return (static_cast<acc_t>(xi[e]) + static_cast<acc_t>(gi[e]) * scale) - static_cast<acc_t>(x0i[e]);
    };
    const double dn = std::sqrt(sum_of_squares(d, delta));
    const auto shrink = static_cast<acc_t>(dn > eps ? eps / dn : 1.0);
    auto projected = [&](int64_t e) {
      return std::min(std::max(static_cast<acc_t>(x0i[e]) + delta(e) * shrink, acc_t(0)), acc_t(1));
    };
    int64_t e = 0;
    for (; e + kStrip <= d; e += kStrip) {
      // Through a local buffer: x may alias x0 or grad.
      acc_t strip[kStrip];
      for (int64_t l = 0; l < kStrip; ++l) strip[l] = projected(e + l);
      for (int64_t l = 0; l < kStrip; ++l) xi[e + l] = static_cast<scalar_t>(strip[l]);
    }
    for (; e < d; ++e) xi[e] = static_cast<scalar_t>(projected(e));
  }
}

at::Tensor& l2_step_cpu(at::Tensor& x, const at::Tensor& grad, const at::Tensor& x0, double alpha,
                        double eps) {
  TORCH_CHECK(at::isFloatingType(x.scalar_type()),
              "l2_step_: x must be a floating tensor (float32, float16, bfloat16 or float64), got ",
              x.scalar_type());
  TORCH_CHECK(x.dim() >= 1, "l2_step_: x must have a batch dimension, got a 0-d tensor");
  check_like(x, "grad", grad);
  check_like(x, "x0", x0);
  if (x.numel() == 0) return x;
  auto out = x.contiguous();
  const auto g = grad.contiguous(), origin = x0.contiguous();
  const int64_t n = x.size(0), d = x.numel() / n;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "l2_step_cpu", [&] {
    scalar_t* xp = out.data_ptr<scalar_t>();
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* x0p = origin.const_data_ptr<scalar_t>();
    const int64_t grain = std::max<int64_t>(1, 32768 / d);
    at::parallel_for(0, n, grain, [&](int64_t begin, int64_t end) {
      step_samples(xp, gp, x0p, d, begin, end, alpha, eps);
    });
  });
  if (!out.is_same(x)) x.copy_(out);
  return x;
}

}  // namespace

TORCH_LIBRARY_IMPL(modelgate, CPU, m) { m.impl("l2_step_", TORCH_FN(l2_step_cpu)); }

}  // namespace modelgate::kernels
