// CPU kernel for modelgate::uniform_ball: PGD's random start, eps·u with u drawn from the
// Philox stream, one pass.
#include "kernels/philox.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

namespace modelgate::kernels {
namespace {

constexpr int64_t kGrainBlocks = 4096;

at::Tensor uniform_ball_cpu(const at::Tensor& x, double eps, int64_t seed, int64_t first_index) {
  TORCH_CHECK(at::isFloatingType(x.scalar_type()),
              "uniform_ball: x must be a floating tensor (float32, float16, bfloat16 or float64), got ",
              x.scalar_type());
  TORCH_CHECK(x.dim() >= 1, "uniform_ball: x must have a batch dimension, got a 0-d tensor");
  auto out = at::empty(x.sizes(), x.options());
  if (x.numel() == 0) return out;
  const int64_t n = x.size(0), d = x.numel() / n, blocks = (d + 3) / 4;
  const auto key = static_cast<uint64_t>(seed), first = static_cast<uint64_t>(first_index);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "uniform_ball_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto e = static_cast<acc_t>(eps);
    scalar_t* op = out.data_ptr<scalar_t>();
    at::parallel_for(0, n * blocks, kGrainBlocks, [&](int64_t begin, int64_t end) {
      // Sample and block are stepped, not divided out of idx: a 64-bit division per block
      // costs as much as the Philox rounds.
      int64_t i = begin / blocks, blk = begin % blocks;
      for (int64_t idx = begin; idx < end; ++idx) {
        const auto w = philox::draw(key, first + static_cast<uint64_t>(i), static_cast<uint64_t>(blk),
                                    philox::kUniformBall);
        const int64_t base = i * d + blk * 4, lanes = std::min<int64_t>(4, d - blk * 4);
        for (int64_t l = 0; l < lanes; ++l)
          op[base + l] = static_cast<scalar_t>(e * static_cast<acc_t>(philox::to_signed_unit(w.v[l])));
        if (++blk == blocks) {
          blk = 0;
          ++i;
        }
      }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(modelgate, CPU, m) { m.impl("uniform_ball", TORCH_FN(uniform_ball_cpu)); }

}  // namespace modelgate::kernels
