// CUDA gaussian_blur: k×k Gaussian per channel plane, separable, reflect-101 borders, fused
// into one kernel so the data crosses memory once. A block owns a 64-column × tile_h-row
// output tile of one plane: it stages the tile and its k/2 halo in shared memory (borders
// reflected on the way in), blurs the rows into a second shared buffer, then blurs the
// columns into the output.
//
// The arithmetic is the CPU kernel's, operation for operation: in float, taps in order, the
// first tap a product and each further tap a separately rounded multiply and add (explicit
// round-to-nearest intrinsics keep nvcc from fusing them). Float32 output is therefore
// bit-identical to the CPU's; the half types, which are blurred in float and rounded once,
// as well.
#include "kernels/cuda/launch.cuh"
#include "kernels/ops.h"
#include "kernels/reference_ops.h"

#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <limits>
#include <stdexcept>
#include <string>

namespace modelgate::kernels::cuda {
namespace {

constexpr int kTileW = 64;      // output columns per block = blockDim.x
constexpr int kRowThreads = 4;  // blockDim.y
constexpr int kMaxTaps = 99;    // the engine's limit; wider kernels use the reference
constexpr int kShortRows = 4;   // output rows per thread up to k = 17 (16-row tiles)
constexpr int kTallRows = 16;   // beyond (64-row tiles)

/// The taps travel as a kernel parameter (constant memory, broadcast to every thread).
struct Taps {
  float v[kMaxTaps];
};

// Reflect-101 for indices within one border width of [0, n); positions further out only feed
// outputs past the image edge, which are never stored, and are clamped to stay in bounds.
__device__ __forceinline__ int reflect101(int i, int n) {
  i = i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i);
  return min(max(i, 0), n - 1);
}

// K: the tap count when known at compile time (fully unrolled), 0 for any odd k.
// R: output rows per thread, tile_h = R·kRowThreads. In-plane indices are int (the launcher
// checks that a plane has fewer than 2^31 elements); plane offsets are int64.
template <typename T, int K, int R>
__global__ void __launch_bounds__(kTileW* kRowThreads)
    gaussian_blur_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t planes, int h, int w, int k_runtime,
                         Taps taps) {
  constexpr int kTileH = R * kRowThreads;
  const int k = K > 0 ? K : k_runtime;
  const int pad = k / 2;
  const int in_w = kTileW + 2 * pad, in_h = kTileH + 2 * pad;
  extern __shared__ float smem[];
  float* in_s = smem;                 // in_h × in_w: the input tile and its halo
  float* mid_s = smem + in_h * in_w;  // in_h × kTileW: after the row pass
  const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * kTileW + tx;
  const int x0 = blockIdx.x * kTileW, y0 = blockIdx.y * kTileH;

  for (int64_t plane = blockIdx.z; plane < planes; plane += gridDim.z) {
    const T* src = x + plane * h * w;
    // The staged tile as one flat range, so no thread idles on the halo's short rows.
#pragma unroll 4
    for (int idx = tid; idx < in_h * in_w; idx += kTileW * kRowThreads) {
      const int r = idx / in_w, c = idx - r * in_w;
      in_s[idx] = static_cast<float>(src[reflect101(y0 - pad + r, h) * w + reflect101(x0 - pad + c, w)]);
    }
    __syncthreads();

    for (int r = ty; r < in_h; r += kRowThreads) {
      const float* row = in_s + r * in_w + tx;
      float acc = __fmul_rn(taps.v[0], row[0]);
#pragma unroll(K > 0 ? K : 1)
      for (int j = 1; j < k; ++j) acc = __fadd_rn(acc, __fmul_rn(taps.v[j], row[j]));
      mid_s[r * kTileW + tx] = acc;
    }
    __syncthreads();

    // Column pass: R consecutive output rows per thread, taps outermost so each tap is read
    // once and (for a known k) each staged value loaded once.
    const int r0 = ty * R;
    float acc[R];
#pragma unroll
    for (int rr = 0; rr < R; ++rr) acc[rr] = __fmul_rn(taps.v[0], mid_s[(r0 + rr) * kTileW + tx]);
#pragma unroll(K > 0 ? K : 1)
    for (int j = 1; j < k; ++j) {
      const float t = taps.v[j];
#pragma unroll
      for (int rr = 0; rr < R; ++rr) acc[rr] = __fadd_rn(acc[rr], __fmul_rn(t, mid_s[(r0 + rr + j) * kTileW + tx]));
    }
    const int gx = x0 + tx;
    if (gx < w) {
      T* dst = out + plane * h * w;
#pragma unroll
      for (int rr = 0; rr < R; ++rr) {
        const int gy = y0 + r0 + rr;
        if (gy < h) dst[gy * w + gx] = static_cast<T>(acc[rr]);
      }
    }
    __syncthreads();
  }
}

size_t shared_bytes(int k, int rows) {
  const int pad = k / 2;
  return sizeof(float) * static_cast<size_t>(rows + 2 * pad) * (kTileW + 2 * pad + kTileW);
}

template <typename T, int K, int R>
void launch(const T* x, T* out, int64_t planes, int h, int w, int k, const Taps& taps, size_t smem,
            cudaStream_t stream) {
  constexpr int kTileH = R * kRowThreads;
  const auto kernel = gaussian_blur_kernel<T, K, R>;
  if (smem > 48 * 1024)
    C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  const dim3 grid(static_cast<unsigned int>(ceil_div(w, kTileW)), static_cast<unsigned int>(ceil_div(h, kTileH)),
                  static_cast<unsigned int>(std::min<int64_t>(planes, 65535)));
  kernel<<<grid, dim3(kTileW, kRowThreads), smem, stream>>>(x, out, planes, h, w, k, taps);
}

at::Tensor gaussian_blur_cuda(const at::Tensor& x_in, int64_t k, double sigma) {
  // The kernel size is validated first, as on the CPU: a bad k is std::invalid_argument.
  const std::vector<float> tap_values = gaussian_taps(k, sigma);
  TORCH_CHECK(x_in.dim() == 4, "modelgate::gaussian_blur: x must be N×C×H×W, got ", x_in.dim(), " dims");
  check_cuda(x_in, "gaussian_blur", "x");
  check_float_or_reduced(x_in, "gaussian_blur", "x");
  const int64_t h = x_in.size(2), w = x_in.size(3), pad = k / 2;
  if (pad >= h || pad >= w)
    throw std::invalid_argument("blur kernel " + std::to_string(k) + "x" + std::to_string(k) + " is too large for " +
                                std::to_string(h) + "x" + std::to_string(w) + " inputs (reflect-101 border)");
  if (k > kMaxTaps) return ref::gaussian_blur(x_in, k, sigma);
  at::Tensor out = x_in.new_empty(x_in.sizes());
  if (out.numel() == 0) return out;
  // Planes past int indexing or the grid's 65535 row tiles: the reference serves them.
  if (h * w > std::numeric_limits<int32_t>::max() || ceil_div(h, kShortRows * kRowThreads) > 65535)
    return ref::gaussian_blur(x_in, k, sigma);

  const c10::cuda::CUDAGuard guard(x_in.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor x = x_in.contiguous();
  Taps taps{};
  std::copy(tap_values.begin(), tap_values.end(), taps.v);
  const int kk = static_cast<int>(k), hi = static_cast<int>(h), wi = static_cast<int>(w);
  const int64_t planes = x.size(0) * x.size(1);

  // Wide kernels take taller tiles, so the halo is a smaller share of what is staged.
  int device = 0, optin = 0;
  C10_CUDA_CHECK(cudaGetDevice(&device));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  const bool tall = pad > 8 && shared_bytes(kk, kTallRows * kRowThreads) <= static_cast<size_t>(optin);
  const size_t smem = shared_bytes(kk, (tall ? kTallRows : kShortRows) * kRowThreads);
  if (smem > static_cast<size_t>(optin)) return ref::gaussian_blur(x_in, k, sigma);

  MODELGATE_DISPATCH_FLOAT_HALF_BF16(x.scalar_type(), "gaussian_blur_cuda", [&] {
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    if (kk == 3) {
      launch<scalar_t, 3, kShortRows>(xp, op, planes, hi, wi, kk, taps, smem, stream);
    } else if (kk == 5) {
      launch<scalar_t, 5, kShortRows>(xp, op, planes, hi, wi, kk, taps, smem, stream);
    } else if (tall) {
      launch<scalar_t, 0, kTallRows>(xp, op, planes, hi, wi, kk, taps, smem, stream);
    } else {
      launch<scalar_t, 0, kShortRows>(xp, op, planes, hi, wi, kk, taps, smem, stream);
    }
  });
  check_launch("gaussian_blur");
  return out;
}

}  // namespace
}  // namespace modelgate::kernels::cuda

TORCH_LIBRARY_IMPL(modelgate, CUDA, m) { m.impl("gaussian_blur", &modelgate::kernels::cuda::gaussian_blur_cuda); }
