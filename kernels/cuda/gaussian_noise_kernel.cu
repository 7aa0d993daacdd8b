// CUDA gaussian_noise: clamp(x + level·z, 0, 1) with z from the Philox stream kNoise. Each
// thread draws one Philox block for four elements of one sample and turns words (w0, w1)
// and (w2, w3) into two Box-Muller pairs, in double precision like the CPU kernel, so the
// two agree to the last bit except where CUDA's and the C library's log/sincos round a
// double differently (then by one float ulp of z). The float steps that follow use explicit
// round-to-nearest intrinsics so that nvcc does not fuse them into one FMA the CPU lacks.
#include "kernels/cuda/sample_groups.cuh"
#include "kernels/philox.h"

#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

namespace modelgate::kernels::cuda {
namespace {

constexpr double kTwoPi = 2.0 * 3.14159265358979323846;

/// One Box-Muller pair: r·cos(2π·u2), r·sin(2π·u2) with r = sqrt(−2·log u1), u in (0, 1].
__device__ __forceinline__ void box_muller(uint32_t a, uint32_t b, float& z_even, float& z_odd) {
  const double u1 = philox::to_unit_open0(a);
  const double u2 = philox::to_unit_open0(b);
  const double r = sqrt(-2.0 * log(u1));
  double s, c;
  sincos(kTwoPi * u2, &s, &c);
  z_even = static_cast<float>(r * c);
  z_odd = static_cast<float>(r * s);
}

__device__ __forceinline__ float noisy(float x, float z, float level) {
  return fminf(fmaxf(__fadd_rn(x, __fmul_rn(level, z)), 0.0f), 1.0f);
}

// `whole`: every sample holds a multiple of four elements and both pointers are aligned, so
// a group is one vector load and one vector store.
template <typename T, bool whole>
__global__ void gaussian_noise_kernel(const T* __restrict__ x, T* __restrict__ out, SampleGroups s, float level,
                                      uint64_t seed, uint64_t first_index) {
  for_each_group(s, [&](int64_t i, int64_t g) {
    const philox::Block w =
        philox::draw(seed, first_index + static_cast<uint64_t>(i), static_cast<uint64_t>(g), philox::kNoise);
    float z[4];
    box_muller(w.v[0], w.v[1], z[0], z[1]);
    box_muller(w.v[2], w.v[3], z[2], z[3]);
    const int64_t e0 = 4 * g;
    const int64_t offset = i * s.per_sample + e0;
    if (whole) {
      using P = Pack<T, 4>;
      P v = *reinterpret_cast<const P*>(x + offset);
#pragma unroll
      for (int k = 0; k < 4; ++k) v.v[k] = static_cast<T>(noisy(static_cast<float>(v.v[k]), z[k], level));
      *reinterpret_cast<P*>(out + offset) = v;
    } else {
#pragma unroll
      for (int k = 0; k < 4; ++k)
        if (e0 + k < s.per_sample)
          out[offset + k] = static_cast<T>(noisy(static_cast<float>(x[offset + k]), z[k], level));
    }
  });
}

at::Tensor gaussian_noise_cuda(const at::Tensor& x_in, double level, int64_t seed, int64_t first_index) {
  check_sampled_input(x_in, "gaussian_noise");
  check_float_or_reduced(x_in, "gaussian_noise", "x");
  const at::Tensor x = x_in.contiguous();
  at::Tensor out = x.new_empty(x.sizes());
  if (out.numel() == 0) return out;

  const c10::cuda::CUDAGuard guard(x.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const SampleGroups s = sample_groups(x);
  const GroupLaunch l = group_launch(s);
  MODELGATE_DISPATCH_FLOAT_HALF_BF16(x.scalar_type(), "gaussian_noise_cuda", [&] {
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    const size_t vec_bytes = 4 * sizeof(scalar_t);
    const bool whole = s.per_sample % 4 == 0 && aligned_to(xp, vec_bytes) && aligned_to(op, vec_bytes);
    if (whole) {
      gaussian_noise_kernel<scalar_t, true><<<l.grid, l.block, 0, stream>>>(
          xp, op, s, static_cast<float>(level), static_cast<uint64_t>(seed), static_cast<uint64_t>(first_index));
    } else {
      gaussian_noise_kernel<scalar_t, false><<<l.grid, l.block, 0, stream>>>(
          xp, op, s, static_cast<float>(level), static_cast<uint64_t>(seed), static_cast<uint64_t>(first_index));
    }
  });
  check_launch("gaussian_noise");
  return out;
}

}  // namespace
}  // namespace modelgate::kernels::cuda

TORCH_LIBRARY_IMPL(modelgate, CUDA, m) { m.impl("gaussian_noise", &modelgate::kernels::cuda::gaussian_noise_cuda); }
