// CUDA channel_stats: per channel of N×C×…, (mean, population variance, fraction > 0, max) in
// one read of the data. Blocks of `parts` per channel accumulate, in double and around a
// per-channel shift (the channel's first value, as on the CPU, so the one-pass variance does
// not cancel), the sum, the sum of squares, the positive count, a NaN flag and the max; a
// one-thread-per-channel kernel merges the parts in order. Deterministic, no atomics, no
// host synchronisation.
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/launch.cuh"

#include <ATen/cuda/detail/IntegerDivider.cuh>
#include <c10/cuda/CUDAGuard.h>
#include <math_constants.h>
#include <torch/library.h>

#include <limits>

namespace modelgate::kernels::cuda {
namespace {

// Per (channel, part): sum, squares, positive count, NaN count, as doubles (counts are exact
// below 2^53), and the max as a float.
constexpr int kPartialFields = 4;
// Vectors each thread loads before accumulating any: more bytes in flight per thread.
constexpr int kUnroll = 4;

struct Max {
  __device__ __forceinline__ float operator()(float a, float b) const { return a > b ? a : b; }
};

// A channel's values are N runs of `inner` contiguous elements. Item t is vector t % per_row
// of run t / per_row; `Index` is uint32 (a fast multiply-shift division) wherever the item
// count allows, int64 otherwise.
template <typename Index, int V>
__global__ void channel_partials_kernel(const float* __restrict__ x, int64_t channels, int64_t inner,
                                        at::cuda::detail::IntDivider<Index> per_row, int64_t items,
                                        double* __restrict__ sums, float* __restrict__ maxes) {
  __shared__ double dscratch[kWarp];
  __shared__ float fscratch[kWarp];
  const int64_t parts = gridDim.x, stride = parts * blockDim.x;
  for (int64_t ch = blockIdx.y; ch < channels; ch += gridDim.y) {
    const float* channel = x + ch * inner;
    const double shift = channel[0];
    double sum = 0, squares = 0;
    unsigned long long positive = 0, nans = 0;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t t0 = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t0 < items; t0 += kUnroll * stride) {
      Pack<float, V> v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t t = t0 + u * stride;
        if (t < items) {
          const auto q = per_row.divmod(static_cast<Index>(t));
          const int64_t row = q.div, vec = q.mod;
          v[u] = *reinterpret_cast<const Pack<float, V>*>(channel + row * channels * inner + vec * V);
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (t0 + u * stride >= items) break;
#pragma unroll
        for (int k = 0; k < V; ++k) {
          const float f = v[u].v[k];
          const double c = static_cast<double>(f) - shift;
          sum += c;
          squares += c * c;
          positive += f > 0.0f;
          nans += f != f;
          mx = f > mx ? f : mx;
        }
      }
    }
    sum = block_reduce(sum, Sum{}, 0.0, dscratch);
    squares = block_reduce(squares, Sum{}, 0.0, dscratch);
    const double pos = block_reduce(static_cast<double>(positive), Sum{}, 0.0, dscratch);
    const double nan_count = block_reduce(static_cast<double>(nans), Sum{}, 0.0, dscratch);
    mx = block_reduce(mx, Max{}, -std::numeric_limits<float>::infinity(), fscratch);
    if (threadIdx.x == 0) {
      double* s = sums + (ch * parts + blockIdx.x) * kPartialFields;
      s[0] = sum;
      s[1] = squares;
      s[2] = pos;
      s[3] = nan_count;
      maxes[ch * parts + blockIdx.x] = mx;
    }
  }
}

__global__ void channel_finish_kernel(const float* __restrict__ x, const double* __restrict__ sums,
                                      const float* __restrict__ maxes, int64_t channels, int64_t inner, int64_t parts,
                                      double count, float* __restrict__ mean, float* __restrict__ var,
                                      float* __restrict__ positive, float* __restrict__ max) {
  for (int64_t ch = global_thread(); ch < channels; ch += grid_threads()) {
    double sum = 0, squares = 0, pos = 0, nans = 0;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t p = 0; p < parts; ++p) {
      const double* s = sums + (ch * parts + p) * kPartialFields;
      sum += s[0];
      squares += s[1];
      pos += s[2];
      nans += s[3];
      mx = fmaxf(mx, maxes[ch * parts + p]);
    }
    const double shift = x[ch * inner];
    const double centred = sum / count;
    const double v = squares / count - centred * centred;
    mean[ch] = static_cast<float>(shift + centred);
    // Rounding can push an almost-zero variance below zero; NaN must stay NaN.
    var[ch] = static_cast<float>(v < 0 ? 0.0 : v);
    positive[ch] = static_cast<float>(pos / count);
    max[ch] = nans > 0 ? CUDART_NAN_F : mx;
  }
}

template <typename Index, int V>
void launch_partials(const float* x, int64_t channels, int64_t inner, int64_t items, dim3 grid, double* sums,
                     float* maxes, cudaStream_t stream) {
  const at::cuda::detail::IntDivider<Index> per_row(static_cast<Index>(inner / V));
  channel_partials_kernel<Index, V><<<grid, kThreads, 0, stream>>>(x, channels, inner, per_row, items, sums, maxes);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> channel_stats_cuda(const at::Tensor& x_in) {
  check_cuda(x_in, "channel_stats", "x");
  TORCH_CHECK(x_in.dim() >= 2, "modelgate::channel_stats: x must be N×C×…, got ", x_in.dim(), " dims");
  check_float(x_in, "channel_stats", "x");
  const int64_t n = x_in.size(0), channels = x_in.size(1);
  const int64_t count = channels == 0 ? 0 : x_in.numel() / channels;
  at::Tensor mean = x_in.new_empty({channels}), var = x_in.new_empty({channels}), positive = x_in.new_empty({channels}),
             max = x_in.new_empty({channels});
  if (channels == 0) return {mean, var, positive, max};
  if (count == 0) {
    // Statistics of no values are undefined: NaN, like the CPU and at::mean of nothing.
    for (at::Tensor* t : {&mean, &var, &positive, &max}) t->fill_(std::numeric_limits<float>::quiet_NaN());
    return {mean, var, positive, max};
  }

  const c10::cuda::CUDAGuard guard(x_in.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor x = x_in.contiguous();
  const float* xp = x.const_data_ptr<float>();
  const int64_t inner = count / n;
  const bool vectorised = inner % 4 == 0 && aligned_to(xp, 16);
  const int64_t items = n * (vectorised ? inner / 4 : inner);
  // About two waves of blocks in all, shared between the channels.
  const int64_t parts = std::max<int64_t>(
      1, std::min<int64_t>({ceil_div(int64_t{2} * 8 * multiprocessors(), channels), ceil_div(items, kThreads), 65535}));
  const dim3 grid(static_cast<unsigned int>(parts), static_cast<unsigned int>(std::min<int64_t>(channels, 65535)));
  at::Tensor sums = x.new_empty({channels * parts * kPartialFields}, x.options().dtype(at::kDouble));
  at::Tensor maxes = x.new_empty({channels * parts});
  double* sp = sums.data_ptr<double>();
  float* mp = maxes.data_ptr<float>();

  const bool narrow = items <= std::numeric_limits<int32_t>::max();
  if (vectorised && narrow) {
    launch_partials<uint32_t, 4>(xp, channels, inner, items, grid, sp, mp, stream);
  } else if (vectorised) {
    launch_partials<int64_t, 4>(xp, channels, inner, items, grid, sp, mp, stream);
  } else if (narrow) {
    launch_partials<uint32_t, 1>(xp, channels, inner, items, grid, sp, mp, stream);
  } else {
    launch_partials<int64_t, 1>(xp, channels, inner, items, grid, sp, mp, stream);
  }
  check_launch("channel_stats (partials)");
  channel_finish_kernel<<<grid_for(channels), kThreads, 0, stream>>>(
      xp, sp, mp, channels, inner, parts, static_cast<double>(count), mean.data_ptr<float>(), var.data_ptr<float>(),
      positive.data_ptr<float>(), max.data_ptr<float>());
  check_launch("channel_stats (merge)");
  return {mean, var, positive, max};
}

}  // namespace
}  // namespace modelgate::kernels::cuda

TORCH_LIBRARY_IMPL(modelgate, CUDA, m) { m.impl("channel_stats", &modelgate::kernels::cuda::channel_stats_cuda); }
