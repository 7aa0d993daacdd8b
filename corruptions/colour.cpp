// The colour family, as the benchmark's scripts define it on scikit-image's HSV (x in [0, 1]):
//   brightness  V ← clip(V + c)                 saturate  S ← clip(S·c₀ + c₁)
//   contrast    clip((x − m)·c + m), m the channel's mean over the image
// HSV is not formed: with hue and saturation kept, hsv2rgb is linear in V, so brightness scales
// the pixel by V'/V (black becomes grey V'); a saturation change moves each channel to
// V − S'·V·w, w = (V − x)/(V − min) its place between the largest and the smallest channel.
// A grey pixel has hue 0 in scikit-image, so saturate tints it red (R = V, G = B = V(1 − S')).
// Agrees with scikit-image's round trip to about 1e-12.
#include "corruptions/families.h"

#include <algorithm>

namespace modelgate::corruptions {
namespace {

const Params<double> kContrast = {{{0.75, 0.5, 0.4, 0.3, 0.15}, {0.4, 0.3, 0.2, 0.1, 0.05}}};
const Params<double> kBrightness = {{{0.05, 0.1, 0.15, 0.2, 0.3}, {0.1, 0.2, 0.3, 0.4, 0.5}}};
struct Scale {
  double gain, shift;
};
const Params<Scale> kSaturate = {{{{{0.3, 0}, {0.1, 0}, {1.5, 0}, {2, 0.1}, {2.5, 0.2}}},
                                  {{{0.3, 0}, {0.1, 0}, {2, 0}, {5, 0.1}, {20, 0.2}}}}};

void contrast(const Image& im, double c) {
  const int64_t p = im.plane();
  for (int64_t ch = 0; ch < im.c; ++ch) {
    const float* in = im.in + ch * p;
    double mean = 0;
    for (int64_t k = 0; k < p; ++k) mean += in[k];
    mean /= static_cast<double>(p);
    for (int64_t k = 0; k < p; ++k) im.out[ch * p + k] = clip01((in[k] - mean) * c + mean);
  }
}

void brightness(const Image& im, double c) {
  const int64_t p = im.plane();
  if (im.c == 1) {  // imagecorruptions' grey rule: the value plus c
    for (int64_t k = 0; k < p; ++k) im.out[k] = clip01(im.in[k] + c);
    return;
  }
  for (int64_t k = 0; k < p; ++k) {
    const double r = im.in[k], g = im.in[p + k], b = im.in[2 * p + k];
    const double v = std::max({r, g, b}), v2 = std::min(v + c, 1.0);
    const double f = v > 0 ? v2 / v : 0;
    im.out[k] = clip01(v > 0 ? r * f : v2);
    im.out[p + k] = clip01(v > 0 ? g * f : v2);
    im.out[2 * p + k] = clip01(v > 0 ? b * f : v2);
  }
}

void saturate(const Image& im, Scale s) {
  const int64_t p = im.plane();
  if (im.c == 1) {  // grey as RGB, red channel kept: the value itself
    std::copy(im.in, im.in + p, im.out);
    return;
  }
  for (int64_t k = 0; k < p; ++k) {
    const double x[3] = {im.in[k], im.in[p + k], im.in[2 * p + k]};
    const double v = std::max({x[0], x[1], x[2]}), lo = std::min({x[0], x[1], x[2]}), delta = v - lo;
    const double sat = v > 0 && delta > 0 ? delta / v : 0;
    const double sat2 = std::clamp(sat * s.gain + s.shift, 0.0, 1.0);
    for (int ch = 0; ch < 3; ++ch) {
      const double w = delta > 0 ? (v - x[ch]) / delta : (ch == 0 ? 0.0 : 1.0);
      im.out[ch * p + k] = clip01(v - sat2 * v * w);
    }
  }
}

}  // namespace

void apply_colour(Corruption c, int severity, Table t, const Image& im) {
  switch (c) {
    case Corruption::contrast: contrast(im, pick(kContrast, t, severity)); break;
    case Corruption::brightness: brightness(im, pick(kBrightness, t, severity)); break;
    case Corruption::saturate: saturate(im, pick(kSaturate, t, severity)); break;
    default: break;
  }
}

}  // namespace modelgate::corruptions
