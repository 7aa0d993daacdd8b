// CUDA l2_step_: per sample i, x_i ← clamp(x0_i + d_i·min(1, ε/‖d_i‖), 0, 1) with
// d_i = x_i + g_i·α/‖g_i‖ − x0_i. Two reductions, then one elementwise pass:
//   1. partial Σg² per (sample, part) in double; a one-thread-per-sample kernel turns the
//      partials into the step scale α/‖g_i‖ (0 where ‖g_i‖ = 0);
//   2. partial Σd² with the step recomputed, not stored; the shrink factor likewise;
//   3. x ← clamp(x0 + d·shrink, 0, 1).
// Partials are merged in a fixed order, so results are deterministic. The float arithmetic
// is the CPU kernel's and the reference's, operation for operation (round-to-nearest
// intrinsics keep nvcc from fusing it); only the double sums' order differs.
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/launch.cuh"

#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

namespace modelgate::kernels::cuda {
namespace {

constexpr int64_t kElementsPerPart = 16 * kThreads;
constexpr int64_t kMaxParts = 64;

__device__ __forceinline__ float stepped_delta(float x, float g, float x0, float scale) {
  return __fsub_rn(__fadd_rn(x, __fmul_rn(g, scale)), x0);
}

// kStep = false: Σ g²; true: Σ d² after the step. Samples run along y, parts along x.
template <bool kStep>
__global__ void sum_squares_kernel(const float* __restrict__ x, const float* __restrict__ g,
                                   const float* __restrict__ x0, const float* __restrict__ scale, int64_t n, int64_t d,
                                   double* __restrict__ partial) {
  __shared__ double scratch[kWarp];
  const int64_t parts = gridDim.x, stride = parts * blockDim.x;
  for (int64_t i = blockIdx.y; i < n; i += gridDim.y) {
    const int64_t base = i * d;
    const float sc = kStep ? scale[i] : 0.0f;
    double acc = 0;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < d; e += stride) {
      const double v = kStep ? stepped_delta(x[base + e], g[base + e], x0[base + e], sc) : g[base + e];
      acc += v * v;
    }
    acc = block_reduce(acc, Sum{}, 0.0, scratch);
    if (threadIdx.x == 0) partial[i * parts + blockIdx.x] = acc;
  }
}

// One thread per sample: the norm from the partials in part order, then the factor.
// kStep = false: α/‖g‖ (0 for a zero gradient); true: ε/‖d‖ outside the ball, else 1.
template <bool kStep>
__global__ void scale_kernel(const double* __restrict__ partial, int64_t parts, int64_t n, double bound,
                             float* __restrict__ scale) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    double s = 0;
    for (int64_t p = 0; p < parts; ++p) s += partial[i * parts + p];
    const double norm = sqrt(s);
    scale[i] = kStep ? static_cast<float>(norm > bound ? bound / norm : 1.0)
                     : static_cast<float>(norm > 0 ? bound / norm : 0.0);
  }
}

__global__ void project_kernel(float* x, const float* __restrict__ g, const float* __restrict__ x0,
                               const float* __restrict__ step, const float* __restrict__ shrink, int64_t n, int64_t d) {
  for (int64_t i = blockIdx.y; i < n; i += gridDim.y) {
    const int64_t base = i * d;
    const float sc = step[i], sh = shrink[i];
    for (int64_t e = global_thread(); e < d; e += grid_threads()) {
      const float c = x0[base + e];
      const float delta = stepped_delta(x[base + e], g[base + e], c, sc);
      x[base + e] = fminf(fmaxf(__fadd_rn(c, __fmul_rn(delta, sh)), 0.0f), 1.0f);
    }
  }
}

at::Tensor& l2_step_cuda(at::Tensor& x, const at::Tensor& grad, const at::Tensor& x0, double alpha, double eps) {
  check_cuda(x, "l2_step_", "x");
  check_same_device(grad, x, "l2_step_", "grad");
  check_same_device(x0, x, "l2_step_", "x0");
  TORCH_CHECK(x.dim() >= 1, "modelgate::l2_step_: x must have a sample dimension (N×…), got a scalar");
  check_float(x, "l2_step_", "x");
  check_same_shape_and_dtype(grad, x, "l2_step_", "grad");
  check_same_shape_and_dtype(x0, x, "l2_step_", "x0");
  if (x.numel() == 0) return x;

  const c10::cuda::CUDAGuard guard(x.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  at::Tensor xc = x.contiguous();
  const at::Tensor gc = grad.contiguous(), x0c = x0.contiguous();
  const int64_t n = x.size(0), d = x.numel() / n;

  // Parts per sample depend on the sample's size alone, never on the batch: a sample's
  // reduction order, and so its result, is the same in any batch (as on the CPU).
  const int64_t parts = std::min<int64_t>(ceil_div(d, kElementsPerPart), kMaxParts);
  const dim3 reduce_grid(static_cast<unsigned int>(parts), static_cast<unsigned int>(std::min<int64_t>(n, 65535)));
  at::Tensor partial = x.new_empty({n * parts}, x.options().dtype(at::kDouble));
  at::Tensor scales = x.new_empty({2, n});
  float* step = scales.data_ptr<float>();
  float* shrink = step + n;
  const float* xp = xc.const_data_ptr<float>();
  const float* gp = gc.const_data_ptr<float>();
  const float* x0p = x0c.const_data_ptr<float>();
  double* pp = partial.data_ptr<double>();

  sum_squares_kernel<false><<<reduce_grid, kThreads, 0, stream>>>(xp, gp, x0p, nullptr, n, d, pp);
  check_launch("l2_step_ (gradient norm)");
  scale_kernel<false><<<grid_for(n), kThreads, 0, stream>>>(pp, parts, n, alpha, step);
  check_launch("l2_step_ (step scale)");
  sum_squares_kernel<true><<<reduce_grid, kThreads, 0, stream>>>(xp, gp, x0p, step, n, d, pp);
  check_launch("l2_step_ (perturbation norm)");
  scale_kernel<true><<<grid_for(n), kThreads, 0, stream>>>(pp, parts, n, eps, shrink);
  check_launch("l2_step_ (shrink)");
  const dim3 project_grid(static_cast<unsigned int>(std::min<int64_t>(ceil_div(d, kThreads), 1 << 16)),
                          static_cast<unsigned int>(std::min<int64_t>(n, 65535)));
  project_kernel<<<project_grid, kThreads, 0, stream>>>(xc.data_ptr<float>(), gp, x0p, step, shrink, n, d);
  check_launch("l2_step_ (projection)");

  if (!xc.is_same(x)) x.copy_(xc);
  return x;
}

}  // namespace
}  // namespace modelgate::kernels::cuda

TORCH_LIBRARY_IMPL(modelgate, CUDA, m) { m.impl("l2_step_", &modelgate::kernels::cuda::l2_step_cuda); }
