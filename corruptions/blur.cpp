// The blur family, as the benchmark's scripts define it (x in [0, 1]):
//   gaussian_blur  scikit-image's gaussian(sigma = c): SciPy's gaussian_filter per channel,
//                  truncate 4 (radius ⌊4σ + 0.5⌋), 'nearest' (edge-replicating) borders
//   defocus_blur   OpenCV filter2D with the benchmark's disk(radius, alias_blur) kernel:
//                  the aliased disk on a 17×17 grid (radius ≤ 8; else (2r+1)²), normalised, then
//                  blurred by a 3×3 (5×5) Gaussian of σ = alias_blur; reflect-101 borders
// Sums run in double.
#include "corruptions/families.h"

#include <cmath>
#include <vector>

namespace modelgate::corruptions {
namespace {

const Params<double> kGaussianSigma = {{{0.4, 0.6, 0.7, 0.8, 1.0}, {1, 2, 3, 4, 6}}};
struct Disk {
  double radius, alias_blur;
};
const Params<Disk> kDefocus = {{{{{0.3, 0.4}, {0.4, 0.5}, {0.5, 0.6}, {1, 0.2}, {1.5, 0.1}}},
                                {{{3, 0.1}, {4, 0.5}, {6, 0.5}, {8, 0.5}, {10, 0.5}}}}};

int64_t clamp_index(int64_t i, int64_t n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

// OpenCV's BORDER_REFLECT_101 (…cb|abcd|cb…), for offsets of any size.
int64_t reflect101(int64_t i, int64_t n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

std::vector<double> gaussian_taps(double sigma, int64_t radius) {
  std::vector<double> t(static_cast<size_t>(2 * radius + 1));
  double sum = 0;
  for (int64_t k = -radius; k <= radius; ++k)
    sum += t[static_cast<size_t>(k + radius)] = std::exp(-0.5 * static_cast<double>(k * k) / (sigma * sigma));
  for (auto& v : t) v /= sum;
  return t;
}

// SciPy's gaussian_filter over rows then columns of each channel, 'nearest' borders.
void gaussian_blur(const Image& im, double sigma) {
  const auto radius = static_cast<int64_t>(4.0 * sigma + 0.5);
  const auto taps = gaussian_taps(sigma, radius);
  std::vector<double> tmp(static_cast<size_t>(im.plane()));
  for (int64_t ch = 0; ch < im.c; ++ch) {
    const float* in = im.in + ch * im.plane();
    for (int64_t y = 0; y < im.h; ++y)  // axis 0 (height) first, as SciPy goes
      for (int64_t x = 0; x < im.w; ++x) {
        double s = 0;
        for (int64_t k = -radius; k <= radius; ++k)
          s += taps[static_cast<size_t>(k + radius)] * in[clamp_index(y + k, im.h) * im.w + x];
        tmp[static_cast<size_t>(y * im.w + x)] = s;
      }
    for (int64_t y = 0; y < im.h; ++y)
      for (int64_t x = 0; x < im.w; ++x) {
        double s = 0;
        for (int64_t k = -radius; k <= radius; ++k)
          s += taps[static_cast<size_t>(k + radius)] * tmp[static_cast<size_t>(y * im.w + clamp_index(x + k, im.w))];
        im.out[ch * im.plane() + y * im.w + x] = clip01(s);
      }
  }
}

// The benchmark's disk(): an aliased disk, normalised, smoothed by cv2.GaussianBlur (float32 in
// the reference; double here).
std::vector<double> disk_kernel(Disk d, int64_t& size) {
  const int64_t half = d.radius <= 8 ? 8 : static_cast<int64_t>(d.radius);
  const int64_t ksize = d.radius <= 8 ? 3 : 5;
  size = 2 * half + 1;
  std::vector<double> disk(static_cast<size_t>(size * size));
  double sum = 0;
  for (int64_t y = -half; y <= half; ++y)
    for (int64_t x = -half; x <= half; ++x) {
      const double inside = static_cast<double>(x * x + y * y) <= d.radius * d.radius ? 1.0 : 0.0;
      disk[static_cast<size_t>((y + half) * size + x + half)] = inside;
      sum += inside;
    }
  for (auto& v : disk) v /= sum;
  const auto taps = gaussian_taps(d.alias_blur, ksize / 2);
  const int64_t r = ksize / 2;
  std::vector<double> rows(disk.size()), out(disk.size());
  for (int64_t y = 0; y < size; ++y)
    for (int64_t x = 0; x < size; ++x) {
      double s = 0;
      for (int64_t k = -r; k <= r; ++k) s += taps[static_cast<size_t>(k + r)] * disk[static_cast<size_t>(y * size + reflect101(x + k, size))];
      rows[static_cast<size_t>(y * size + x)] = s;
    }
  for (int64_t y = 0; y < size; ++y)
    for (int64_t x = 0; x < size; ++x) {
      double s = 0;
      for (int64_t k = -r; k <= r; ++k) s += taps[static_cast<size_t>(k + r)] * rows[static_cast<size_t>(reflect101(y + k, size) * size + x)];
      out[static_cast<size_t>(y * size + x)] = s;
    }
  return out;
}

void defocus_blur(const Image& im, Disk d) {
  int64_t size = 0;
  const auto kernel = disk_kernel(d, size);
  const int64_t half = size / 2;
  // Precomputed reflected indices: offsets can exceed the image on small inputs.
  std::vector<int64_t> ry(static_cast<size_t>(im.h + 2 * half)), rx(static_cast<size_t>(im.w + 2 * half));
  for (int64_t i = 0; i < im.h + 2 * half; ++i) ry[static_cast<size_t>(i)] = reflect101(i - half, im.h);
  for (int64_t i = 0; i < im.w + 2 * half; ++i) rx[static_cast<size_t>(i)] = reflect101(i - half, im.w);
  for (int64_t ch = 0; ch < im.c; ++ch) {
    const float* in = im.in + ch * im.plane();
    for (int64_t y = 0; y < im.h; ++y)
      for (int64_t x = 0; x < im.w; ++x) {
        double s = 0;
        for (int64_t ky = 0; ky < size; ++ky) {
          const float* row = in + ry[static_cast<size_t>(y + ky)] * im.w;
          const double* k = kernel.data() + ky * size;
          for (int64_t kx = 0; kx < size; ++kx) s += k[kx] * row[rx[static_cast<size_t>(x + kx)]];
        }
        im.out[ch * im.plane() + y * im.w + x] = clip01(s);
      }
  }
}

}  // namespace

void apply_blur(Corruption c, int severity, Table t, const Image& im) {
  if (c == Corruption::gaussian_blur) gaussian_blur(im, pick(kGaussianSigma, t, severity));
  if (c == Corruption::defocus_blur) defocus_blur(im, pick(kDefocus, t, severity));
}

}  // namespace modelgate::corruptions
