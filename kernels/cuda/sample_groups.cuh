#pragma once
// The traversal shared by the random-stream operators (gaussian_noise, uniform_ball,
// philox_bits): element e of sample i uses word e % 4 of the Philox block e / 4 of that
// sample, so one thread takes one (sample, group of four) pair and draws one block.
// Samples run along the grid's y dimension and groups along x, which needs no integer
// division and keeps int64 indices throughout.
#include "kernels/cuda/launch.cuh"

namespace modelgate::kernels::cuda {

/// Samples and groups of four elements per sample in an N×… tensor.
struct SampleGroups {
  int64_t samples;     // N = x.size(0)
  int64_t per_sample;  // D = x.numel() / N
  int64_t groups;      // ceil(D / 4)
};

inline SampleGroups sample_groups(const at::Tensor& x) {
  const int64_t n = x.size(0);
  const int64_t d = n == 0 ? 0 : x.numel() / n;
  return {n, d, ceil_div(d, 4)};
}

/// Block and grid shape: 256 threads, as many along x as one sample's groups can use.
struct GroupLaunch {
  dim3 grid, block;
};

inline GroupLaunch group_launch(const SampleGroups& s) {
  const int tx = static_cast<int>(std::min<int64_t>(kThreads, std::max<int64_t>(32, ceil_div(s.groups, 32) * 32)));
  const int ty = kThreads / tx;
  const auto gx = static_cast<unsigned int>(std::min<int64_t>(ceil_div(s.groups, tx), 1 << 20));
  const auto gy = static_cast<unsigned int>(std::min<int64_t>(ceil_div(s.samples, ty), 65535));
  return {dim3(gx, gy), dim3(tx, ty)};
}

/// Calls f(i, g) for every sample i and group g, grid-stride in both dimensions.
template <typename F>
__device__ __forceinline__ void for_each_group(const SampleGroups& s, F&& f) {
  for (int64_t i = static_cast<int64_t>(blockIdx.y) * blockDim.y + threadIdx.y; i < s.samples;
       i += static_cast<int64_t>(gridDim.y) * blockDim.y)
    for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < s.groups;
         g += static_cast<int64_t>(gridDim.x) * blockDim.x)
      f(i, g);
}

/// Common argument checks: a CUDA float32 tensor with a sample dimension.
inline void check_sampled_input(const at::Tensor& x, const char* op) {
  check_cuda(x, op, "x");
  TORCH_CHECK(x.dim() >= 1, "modelgate::", op, ": x must have a sample dimension (N×…), got a scalar");
}

}  // namespace modelgate::kernels::cuda
