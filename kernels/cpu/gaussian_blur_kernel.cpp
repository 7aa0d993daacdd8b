// CPU kernel for modelgate::gaussian_blur: separable, per channel plane, reflect-101 borders.
// A plane is blurred along rows into a float scratch plane, then along columns into the output;
// both passes run over contiguous rows, which the compiler vectorizes.
#include "kernels/ops.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace modelgate::kernels {
namespace {

// Floats per strip. GCC's -O2 cost model ("very cheap") vectorizes a loop only when its trip
// count is a known multiple of the vector width, so rows are processed in fixed-width strips.
constexpr int64_t kStrip = 8;

// Reflect-101 index for |i - inside| < n: -1 → 1, n → n - 2.
int64_t reflect101(int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i); }

// dst[i] = t·src[i] (accumulate = false) or dst[i] += t·src[i], for i < n.
void axpy(float t, const float* __restrict src, float* __restrict dst, int64_t n, bool accumulate) {
  int64_t i = 0;
  if (accumulate) {
    for (; i + kStrip <= n; i += kStrip)
      for (int64_t l = 0; l < kStrip; ++l) dst[i + l] += t * src[i + l];
    for (; i < n; ++i) dst[i] += t * src[i];
  } else {
    for (; i + kStrip <= n; i += kStrip)
      for (int64_t l = 0; l < kStrip; ++l) dst[i + l] = t * src[i + l];
    for (; i < n; ++i) dst[i] = t * src[i];
  }
}

template <typename scalar_t>
void blur_plane(const scalar_t* src, scalar_t* dst, int64_t h, int64_t w, const std::vector<float>& taps,
                float* padded, float* scratch, float* acc) {
  const int64_t k = static_cast<int64_t>(taps.size()), r = k / 2;
  for (int64_t y = 0; y < h; ++y) {
    const scalar_t* s = src + y * w;
    for (int64_t i = 0; i < w; ++i) padded[r + i] = static_cast<float>(s[i]);
    for (int64_t j = 1; j <= r; ++j) {
      padded[r - j] = padded[r + j];
      padded[r + w - 1 + j] = padded[r + w - 1 - j];
    }
    for (int64_t j = 0; j < k; ++j) axpy(taps[j], padded + j, scratch + y * w, w, j > 0);
  }
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t j = 0; j < k; ++j) axpy(taps[j], scratch + reflect101(y - r + j, h) * w, acc, w, j > 0);
    scalar_t* o = dst + y * w;
    for (int64_t i = 0; i < w; ++i) o[i] = static_cast<scalar_t>(acc[i]);
  }
}

at::Tensor gaussian_blur_cpu(const at::Tensor& x, int64_t k, double sigma) {
  // The kernel size is validated first: a bad k is a user error (std::invalid_argument).
  const auto taps = gaussian_taps(k, sigma);
  TORCH_CHECK(x.dim() == 4, "gaussian_blur: x must be N×C×H×W, got ", x.dim(), " dims");
  TORCH_CHECK(at::isFloatingType(x.scalar_type()),
              "gaussian_blur: x must be a floating tensor (float32, float16, bfloat16 or float64), got ",
              x.scalar_type());
  const int64_t h = x.size(2), w = x.size(3), r = k / 2;
  if (r >= h || r >= w)
    throw std::invalid_argument("blur kernel " + std::to_string(k) + "x" + std::to_string(k) +
                                " is too large for " + std::to_string(h) + "x" + std::to_string(w) +
                                " inputs (reflect-101 border)");
  auto out = at::empty(x.sizes(), x.options());
  if (x.numel() == 0) return out;
  const auto in = x.contiguous();
  const int64_t planes = x.size(0) * x.size(1), plane = h * w;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "gaussian_blur_cpu", [&] {
    const scalar_t* xp = in.const_data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    at::parallel_for(0, planes, std::max<int64_t>(1, 16384 / plane), [&](int64_t begin, int64_t end) {
      // One scratch allocation per chunk: the padded row, the row-blurred plane, a row of sums.
      std::vector<float> buffer((w + 2 * r) + plane + w);
      float* padded = buffer.data();
      float* scratch = padded + (w + 2 * r);
      float* acc = scratch + plane;
      for (int64_t p = begin; p < end; ++p)
        blur_plane(xp + p * plane, op + p * plane, h, w, taps, padded, scratch, acc);
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(modelgate, CPU, m) { m.impl("gaussian_blur", TORCH_FN(gaussian_blur_cpu)); }

}  // namespace modelgate::kernels
