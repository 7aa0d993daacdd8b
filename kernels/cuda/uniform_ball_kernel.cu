// CUDA uniform_ball: eps·u, u uniform in [−1, 1) from the Philox stream kUniformBall (PGD's
// random start). u has 24 significant bits and the product is one float rounding, as on the
// CPU and in the reference, so all three are bit-identical.
#include "kernels/cuda/sample_groups.cuh"
#include "kernels/philox.h"

#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

namespace modelgate::kernels::cuda {
namespace {

// `whole`: every sample holds a multiple of four elements, so a group is one 16-byte store
// (the output is a fresh allocation).
template <bool whole>
__global__ void uniform_ball_kernel(float* out, SampleGroups s, float eps, uint64_t seed, uint64_t first_index) {
  for_each_group(s, [&](int64_t i, int64_t g) {
    const philox::Block w =
        philox::draw(seed, first_index + static_cast<uint64_t>(i), static_cast<uint64_t>(g), philox::kUniformBall);
    const int64_t e0 = 4 * g;
    float* o = out + i * s.per_sample + e0;
    if (whole) {
      Pack<float, 4> p;
#pragma unroll
      for (int k = 0; k < 4; ++k) p.v[k] = __fmul_rn(eps, philox::to_signed_unit(w.v[k]));
      *reinterpret_cast<Pack<float, 4>*>(o) = p;
    } else {
#pragma unroll
      for (int k = 0; k < 4; ++k)
        if (e0 + k < s.per_sample) o[k] = __fmul_rn(eps, philox::to_signed_unit(w.v[k]));
    }
  });
}

at::Tensor uniform_ball_cuda(const at::Tensor& x, double eps, int64_t seed, int64_t first_index) {
  check_sampled_input(x, "uniform_ball");
  check_float(x, "uniform_ball", "x");
  at::Tensor out = x.new_empty(x.sizes());
  if (out.numel() == 0) return out;

  const c10::cuda::CUDAGuard guard(x.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const SampleGroups s = sample_groups(x);
  const GroupLaunch l = group_launch(s);
  float* o = out.data_ptr<float>();
  const auto e = static_cast<float>(eps);
  const auto key = static_cast<uint64_t>(seed), first = static_cast<uint64_t>(first_index);
  if (s.per_sample % 4 == 0 && aligned_to(o, 16)) {
    uniform_ball_kernel<true><<<l.grid, l.block, 0, stream>>>(o, s, e, key, first);
  } else {
    uniform_ball_kernel<false><<<l.grid, l.block, 0, stream>>>(o, s, e, key, first);
  }
  check_launch("uniform_ball");
  return out;
}

}  // namespace
}  // namespace modelgate::kernels::cuda

TORCH_LIBRARY_IMPL(modelgate, CUDA, m) { m.impl("uniform_ball", &modelgate::kernels::cuda::uniform_ball_cuda); }
