#pragma once
// Deterministic block reductions: a fixed shuffle tree within each warp, then the warps'
// results combined by warp 0 in warp order. The same input always gives the same bits, which
// is what lets per-block partials be merged in a fixed order afterwards (no atomics).
#include <cuda_runtime.h>

namespace modelgate::kernels::cuda {

constexpr int kWarp = 32;

template <typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = op(v, __shfl_down_sync(0xffffffffu, v, offset));
  return v;
}

/// Reduces one value per thread of a one-dimensional block (blockDim.x a multiple of 32, at
/// most 1024). Every thread must call it; thread 0 receives the result. `scratch` holds 32 T
/// and may be reused as soon as the call returns.
template <typename T, typename Op>
__device__ __forceinline__ T block_reduce(T v, Op op, T identity, T* scratch) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  v = warp_reduce(v, op);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>(blockDim.x / kWarp) ? scratch[lane] : identity;
    v = warp_reduce(v, op);
  }
  __syncthreads();
  return v;
}

struct Sum {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};

}  // namespace modelgate::kernels::cuda
