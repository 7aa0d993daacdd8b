#pragma once
// What every modelgate CUDA launcher shares (torchvision's checklist, Faiss's debug switch):
// argument checks that name the operator and the tensor, grid sizing for int64 grid-stride
// loops, 16-byte vector access, a float/half/bfloat16 dispatch, and the launch check.
//
// Debug switch: MODELGATE_CUDA_SYNC=1 makes every launcher synchronise the device after each
// launch, so an asynchronous fault is reported by the kernel that caused it. It is read on
// every call (a getenv is cheap next to a launch), so a test can turn it on and off.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace modelgate::kernels::cuda {

/// Threads per block for the one-dimensional kernels.
constexpr int kThreads = 256;

/// The float32/float16/bfloat16 dispatch of the operators that accept reduced precision.
/// (AT_DISPATCH_FLOATING_TYPES_AND2 would also instantiate float64, which the checks reject.)
// clang-format off
#define MODELGATE_DISPATCH_FLOAT_HALF_BF16(TYPE, NAME, ...)    \
  AT_DISPATCH_SWITCH(TYPE, NAME,                               \
                     AT_DISPATCH_CASE(at::kFloat, __VA_ARGS__) \
                     AT_DISPATCH_CASE(at::kHalf, __VA_ARGS__)  \
                     AT_DISPATCH_CASE(at::kBFloat16, __VA_ARGS__))
// clang-format on

/// `t` is a CUDA tensor (check_cuda), on the device of `like` (check_same_device).
inline void check_cuda(const at::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK(t.defined() && t.is_cuda(), "modelgate::", op, ": `", name, "` must be a CUDA tensor, got ",
              t.defined() ? t.device().str() : std::string("undefined"));
}
inline void check_same_device(const at::Tensor& t, const at::Tensor& like, const char* op, const char* name) {
  check_cuda(t, op, name);
  TORCH_CHECK(t.device() == like.device(), "modelgate::", op, ": `", name, "` is on ", t.device(), " but x is on ",
              like.device());
}

/// float32 only.
inline void check_float(const at::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK(t.scalar_type() == at::kFloat, "modelgate::", op, ": `", name, "` must be float32, got ",
              t.scalar_type());
}

/// float32, float16 or bfloat16.
inline void check_float_or_reduced(const at::Tensor& t, const char* op, const char* name) {
  const auto s = t.scalar_type();
  TORCH_CHECK(s == at::kFloat || s == at::kHalf || s == at::kBFloat16, "modelgate::", op, ": `", name,
              "` must be float32, float16 or bfloat16, got ", s);
}

inline void check_same_shape_and_dtype(const at::Tensor& t, const at::Tensor& x, const char* op, const char* name) {
  TORCH_CHECK(t.sizes() == x.sizes(), "modelgate::", op, ": `", name, "` has shape ", t.sizes(), " but x has shape ",
              x.sizes());
  TORCH_CHECK(t.scalar_type() == x.scalar_type(), "modelgate::", op, ": `", name, "` is ", t.scalar_type(),
              " but x is ", x.scalar_type());
}

/// Whether MODELGATE_CUDA_SYNC=1 asks for a device synchronisation after every launch.
inline bool sync_after_launch() {
  const char* v = std::getenv("MODELGATE_CUDA_SYNC");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

/// After each launch: the launch error, and with MODELGATE_CUDA_SYNC=1 the kernel's own.
inline void check_launch(const char* op) {
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  if (sync_after_launch()) {
    const cudaError_t err = cudaDeviceSynchronize();
    TORCH_CHECK(err == cudaSuccess, "modelgate::", op,
                ": CUDA kernel failed (MODELGATE_CUDA_SYNC=1): ", cudaGetErrorString(err));
  }
}

/// Streaming multiprocessors of the current device (the runtime caches the attribute).
inline int multiprocessors() {
  int device = 0, count = 0;
  C10_CUDA_CHECK(cudaGetDevice(&device));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count;
}

/// Blocks for a grid-stride loop over `items`: enough for a few full waves, never more than
/// the work needs and never zero.
inline unsigned int grid_for(int64_t items, int threads = kThreads) {
  const int64_t wanted = (items + threads - 1) / threads;
  const int64_t waves = int64_t{multiprocessors()} * (2048 / threads) * 4;
  return static_cast<unsigned int>(std::max<int64_t>(1, std::min(wanted, waves)));
}

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// N elements of T as one aligned load or store (16 bytes for a full vector).
template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

/// Elements of T in a 16-byte vector.
template <typename T>
constexpr int kVec = static_cast<int>(16 / sizeof(T));

inline bool aligned_to(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

/// Grid-stride index helpers: int64 throughout, so tensors past 2^31 elements are safe.
__device__ __forceinline__ int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

}  // namespace modelgate::kernels::cuda
