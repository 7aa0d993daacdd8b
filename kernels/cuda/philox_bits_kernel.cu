// CUDA philox_bits: the raw Philox words (stream kBits) that element e of sample i would
// draw, as int32 shaped like x. Bit for bit the CPU's: both run kernels/philox.h.
#include "kernels/cuda/sample_groups.cuh"
#include "kernels/philox.h"

#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

namespace modelgate::kernels::cuda {
namespace {

// `whole` says every sample holds a multiple of four elements, so each group is one aligned
// 16-byte store (the output is a fresh allocation).
template <bool whole>
__global__ void philox_bits_kernel(int32_t* out, SampleGroups s, uint64_t seed, uint64_t first_index) {
  for_each_group(s, [&](int64_t i, int64_t g) {
    const philox::Block w =
        philox::draw(seed, first_index + static_cast<uint64_t>(i), static_cast<uint64_t>(g), philox::kBits);
    const int64_t e0 = 4 * g;
    int32_t* o = out + i * s.per_sample + e0;
    if (whole) {
      Pack<int32_t, 4> p;
#pragma unroll
      for (int k = 0; k < 4; ++k) p.v[k] = static_cast<int32_t>(w.v[k]);
      *reinterpret_cast<Pack<int32_t, 4>*>(o) = p;
    } else {
#pragma unroll
      for (int k = 0; k < 4; ++k)
        if (e0 + k < s.per_sample) o[k] = static_cast<int32_t>(w.v[k]);
    }
  });
}

at::Tensor philox_bits_cuda(const at::Tensor& x, int64_t seed, int64_t first_index) {
  // Only x's shape matters, so any dtype will do (as on the CPU).
  check_sampled_input(x, "philox_bits");
  at::Tensor out = x.new_empty(x.sizes(), x.options().dtype(at::kInt));
  if (out.numel() == 0) return out;

  const c10::cuda::CUDAGuard guard(x.device());
  const SampleGroups s = sample_groups(x);
  const GroupLaunch l = group_launch(s);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  int32_t* o = out.data_ptr<int32_t>();
  if (s.per_sample % 4 == 0 && aligned_to(o, 16)) {
    philox_bits_kernel<true>
        <<<l.grid, l.block, 0, stream>>>(o, s, static_cast<uint64_t>(seed), static_cast<uint64_t>(first_index));
  } else {
    philox_bits_kernel<false>
        <<<l.grid, l.block, 0, stream>>>(o, s, static_cast<uint64_t>(seed), static_cast<uint64_t>(first_index));
  }
  check_launch("philox_bits");
  return out;
}

}  // namespace
}  // namespace modelgate::kernels::cuda

TORCH_LIBRARY_IMPL(modelgate, CUDA, m) { m.impl("philox_bits", &modelgate::kernels::cuda::philox_bits_cuda); }
