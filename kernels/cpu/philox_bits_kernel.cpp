// CPU kernel for modelgate::philox_bits: the raw words behind every random op, so that tests can
// compare the streams of two devices bit for bit.
#include "kernels/philox.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

namespace modelgate::kernels {
namespace {

constexpr int64_t kGrainBlocks = 4096;

at::Tensor philox_bits_cpu(const at::Tensor& x, int64_t seed, int64_t first_index) {
  // Only x's shape matters, so any dtype will do.
  TORCH_CHECK(x.dim() >= 1, "philox_bits: x must have a batch dimension, got a 0-d tensor");
  auto out = at::empty(x.sizes(), x.options().dtype(at::kInt));
  if (x.numel() == 0) return out;
  const int64_t n = x.size(0), d = x.numel() / n, blocks = (d + 3) / 4;
  const auto key = static_cast<uint64_t>(seed), first = static_cast<uint64_t>(first_index);
  int32_t* op = out.data_ptr<int32_t>();
  at::parallel_for(0, n * blocks, kGrainBlocks, [&](int64_t begin, int64_t end) {
    // Sample and block are stepped, not divided out of idx: a 64-bit division per block
    // costs as much as the Philox rounds.
    int64_t i = begin / blocks, blk = begin % blocks;
    for (int64_t idx = begin; idx < end; ++idx) {
      const auto w = philox::draw(key, first + static_cast<uint64_t>(i), static_cast<uint64_t>(blk),
                                  philox::kBits);
      const int64_t base = i * d + blk * 4, lanes = std::min<int64_t>(4, d - blk * 4);
      // Two's complement reinterpretation (GCC and Clang define the narrowing as modular).
      for (int64_t l = 0; l < lanes; ++l) op[base + l] = static_cast<int32_t>(w.v[l]);
      if (++blk == blocks) {
        blk = 0;
        ++i;
      }
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(modelgate, CPU, m) { m.impl("philox_bits", TORCH_FN(philox_bits_cpu)); }

}  // namespace modelgate::kernels
