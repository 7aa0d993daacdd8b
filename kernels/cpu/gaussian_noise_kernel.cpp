// CPU kernel for modelgate::gaussian_noise: Philox words, Box-Muller and the clamped add in one
// pass. Each Philox block of four words feeds four consecutive elements of one sample.
#include "kernels/philox.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>

namespace modelgate::kernels {
namespace {

// A block costs a Philox call plus two logs, square roots and sine/cosine pairs.
constexpr int64_t kGrainBlocks = 1024;

// Box-Muller in double, so that this and the other backends' libms agree before the cast.
void box_muller(uint32_t a, uint32_t b, float* z) {
  const double u1 = philox::to_unit_open0(a), u2 = philox::to_unit_open0(b);
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = (2.0 * M_PI) * u2;
  z[0] = static_cast<float>(r * std::cos(theta));
  z[1] = static_cast<float>(r * std::sin(theta));
}

at::Tensor gaussian_noise_cpu(const at::Tensor& x, double level, int64_t seed, int64_t first_index) {
  TORCH_CHECK(at::isFloatingType(x.scalar_type()),
              "gaussian_noise: x must be a floating tensor (float32, float16, bfloat16 or float64), got ",
              x.scalar_type());
  TORCH_CHECK(x.dim() >= 1, "gaussian_noise: x must have a batch dimension, got a 0-d tensor");
  auto out = at::empty(x.sizes(), x.options());
  if (x.numel() == 0) return out;
  const auto in = x.contiguous();
  const int64_t n = x.size(0), d = x.numel() / n, blocks = (d + 3) / 4;
  const auto key = static_cast<uint64_t>(seed), first = static_cast<uint64_t>(first_index);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "gaussian_noise_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto lv = static_cast<acc_t>(level);
    const scalar_t* xp = in.const_data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    at::parallel_for(0, n * blocks, kGrainBlocks, [&](int64_t begin, int64_t end) {
      // Sample and block are stepped, not divided out of idx: a 64-bit division per block
      // costs as much as the Philox rounds.
      int64_t i = begin / blocks, blk = begin % blocks;
      for (int64_t idx = begin; idx < end; ++idx) {
        const auto w = philox::draw(key, first + static_cast<uint64_t>(i), static_cast<uint64_t>(blk),
                                    philox::kNoise);
        float z[4];
        box_muller(w.v[0], w.v[1], z);
        box_muller(w.v[2], w.v[3], z + 2);
        const int64_t base = i * d + blk * 4, lanes = std::min<int64_t>(4, d - blk * 4);
        for (int64_t l = 0; l < lanes; ++l) {
          // level·z, then the add: two roundings, as the reference's two ATen ops.
          const acc_t noise = lv * static_cast<acc_t>(z[l]);
          const acc_t y = static_cast<acc_t>(xp[base + l]) + noise;
          op[base + l] = static_cast<scalar_t>(std::min(std::max(y, acc_t(0)), acc_t(1)));
        }
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

TORCH_LIBRARY_IMPL(modelgate, CPU, m) { m.impl("gaussian_noise", TORCH_FN(gaussian_noise_cpu)); }

}  // namespace modelgate::kernels
