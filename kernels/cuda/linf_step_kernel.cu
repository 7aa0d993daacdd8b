// CUDA linf_step_: x ← clamp(min(max(x + α·sign(g), x0 − ε), x0 + ε), 0, 1) in one pass
// (three reads, one write). Like the CPU kernel, it rounds each intermediate the reference's
// separate ATen ops round (x + α·sign(g), x0 − ε and x0 + ε, each to x's dtype), so the result
// is bit-identical to both for every dtype; α·sign(g) is exact, so no FMA can change it.
#include "kernels/cuda/launch.cuh"

#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

namespace modelgate::kernels::cuda {
namespace {

// Rounds a float to T and back: the identity for float.
template <typename T>
__device__ __forceinline__ float round_to(float v) {
  return static_cast<float>(static_cast<T>(v));
}

template <typename T>
__device__ __forceinline__ T linf_step_value(T x, T g, T x0, float alpha, float eps) {
  const float gv = static_cast<float>(g), c = static_cast<float>(x0);
  const float s = static_cast<float>((gv > 0.0f) - (gv < 0.0f));
  const float moved = round_to<T>(__fadd_rn(static_cast<float>(x), alpha * s));
  const float lo = round_to<T>(__fsub_rn(c, eps)), hi = round_to<T>(__fadd_rn(c, eps));
  const float projected = fminf(fmaxf(moved, lo), hi);
  return static_cast<T>(fminf(fmaxf(projected, 0.0f), 1.0f));
}

// x0 may alias x (the reference allows it), so no pointer is __restrict__: each element is
// read before its own thread writes it, and no other thread touches it.
template <typename T, int V>
__global__ void linf_step_kernel(T* x, const T* grad, const T* x0, float alpha, float eps, int64_t n) {
  using P = Pack<T, V>;
  const int64_t packs = n / V;
  for (int64_t i = global_thread(); i < packs; i += grid_threads()) {
    P xv = reinterpret_cast<const P*>(x)[i];
    const P gv = reinterpret_cast<const P*>(grad)[i];
    const P x0v = reinterpret_cast<const P*>(x0)[i];
#pragma unroll
    for (int k = 0; k < V; ++k) xv.v[k] = linf_step_value<T>(xv.v[k], gv.v[k], x0v.v[k], alpha, eps);
    reinterpret_cast<P*>(x)[i] = xv;
  }
  // The last n % V elements, when the vector width does not divide n.
  const int64_t tail = packs * V + global_thread();
  if (tail < n) x[tail] = linf_step_value<T>(x[tail], grad[tail], x0[tail], alpha, eps);
}

template <typename T>
void launch(T* x, const T* grad, const T* x0, float alpha, float eps, int64_t n, cudaStream_t stream) {
  constexpr int V = kVec<T>;
  const bool vectorised = aligned_to(x, 16) && aligned_to(grad, 16) && aligned_to(x0, 16);
  if (vectorised) {
    linf_step_kernel<T, V><<<grid_for(ceil_div(n, V)), kThreads, 0, stream>>>(x, grad, x0, alpha, eps, n);
  } else {
    linf_step_kernel<T, 1><<<grid_for(n), kThreads, 0, stream>>>(x, grad, x0, alpha, eps, n);
  }
  check_launch("linf_step_");
}

at::Tensor& linf_step_cuda(at::Tensor& x, const at::Tensor& grad, const at::Tensor& x0, double alpha, double eps) {
  check_cuda(x, "linf_step_", "x");
  check_same_device(grad, x, "linf_step_", "grad");
  check_same_device(x0, x, "linf_step_", "x0");
  check_float_or_reduced(x, "linf_step_", "x");
  check_same_shape_and_dtype(grad, x, "linf_step_", "grad");
  check_same_shape_and_dtype(x0, x, "linf_step_", "x0");
  if (x.numel() == 0) return x;

  const c10::cuda::CUDAGuard guard(x.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  // A non-contiguous x is stepped in a contiguous copy, then written back in place.
  at::Tensor xc = x.contiguous();
  const at::Tensor gc = grad.contiguous(), x0c = x0.contiguous();
  MODELGATE_DISPATCH_FLOAT_HALF_BF16(x.scalar_type(), "linf_step_cuda", [&] {
    launch<scalar_t>(xc.data_ptr<scalar_t>(), gc.const_data_ptr<scalar_t>(), x0c.const_data_ptr<scalar_t>(),
                     static_cast<float>(alpha), static_cast<float>(eps), x.numel(), stream);
  });
  if (!xc.is_same(x)) x.copy_(xc);
  return x;
}

}  // namespace
}  // namespace modelgate::kernels::cuda

TORCH_LIBRARY_IMPL(modelgate, CUDA, m) { m.impl("linf_step_", &modelgate::kernels::cuda::linf_step_cuda); }
