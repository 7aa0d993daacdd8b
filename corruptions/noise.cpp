// The noise family, as the benchmark's scripts define it (x in [0, 1], c the severity's value):
//   gaussian_noise  clip(x + N(0, c²))              speckle_noise  clip(x + x·N(0, c²))
//   shot_noise      clip(Poisson(x·c) / c)          impulse_noise  salt and pepper, amount c
// impulse_noise is scikit-image's random_noise(mode='s&p', amount=c): each element is replaced
// with probability c, by 1 or 0 with equal odds. Poisson draws use inversion below λ = 10 and
// Hörmann's PTRS rejection above (the algorithms NumPy uses).
#include "corruptions/families.h"

#include <cmath>

namespace modelgate::corruptions {
namespace {

const Params<double> kGaussian = {{{0.04, 0.06, 0.08, 0.09, 0.10}, {0.08, 0.12, 0.18, 0.26, 0.38}}};
const Params<double> kShot = {{{500, 250, 100, 75, 50}, {60, 25, 12, 5, 3}}};
const Params<double> kImpulse = {{{0.01, 0.02, 0.03, 0.05, 0.07}, {0.03, 0.06, 0.09, 0.17, 0.27}}};
const Params<double> kSpeckle = {{{0.06, 0.1, 0.12, 0.16, 0.2}, {0.15, 0.2, 0.35, 0.45, 0.6}}};

// Knuth's multiplication method: the count of uniforms whose running product stays above e^-λ.
int64_t poisson_small(double lam, const SampleStream& rng, uint64_t e) {
  const double limit = std::exp(-lam);
  double prod = 1.0;
  int64_t k = 0;
  for (uint32_t draw = 0; draw < 4096; ++draw) {
    double u[2];
    rng.uniforms(e, draw, u);
    for (double v : u) {
      prod *= v;
      if (prod <= limit) return k;
      ++k;
    }
  }
  return k;
}

// Hörmann (1993), "The transformed rejection method for generating Poisson random variables".
int64_t poisson_ptrs(double lam, const SampleStream& rng, uint64_t e) {
  const double slam = std::sqrt(lam), loglam = std::log(lam);
  const double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  const double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
  for (uint32_t draw = 0; draw < 4096; ++draw) {
    double u[2];
    rng.uniforms(e, draw, u);
    const double U = u[0] - 0.5, V = u[1], us = 0.5 - std::fabs(U);
    const auto k = static_cast<int64_t>(std::floor((2 * a / us + b) * U + lam + 0.43));
    if (us >= 0.07 && V <= vr) return k;
    if (k < 0 || (us < 0.013 && V > us)) continue;
    if (std::log(V) + std::log(invalpha) - std::log(a / (us * us) + b) <=
        -lam + static_cast<double>(k) * loglam - std::lgamma(static_cast<double>(k) + 1))
      return k;
  }
  return static_cast<int64_t>(std::lround(lam));  // not reached in practice: each try accepts with p > 0.8
}

}  // namespace

void apply_noise(Corruption c, int severity, Table t, const Image& im, const SampleStream& rng) {
  const int64_t d = im.size();
  switch (c) {
    case Corruption::gaussian_noise: {
      const double s = pick(kGaussian, t, severity);
      for (int64_t e = 0; e < d; ++e) im.out[e] = clip01(im.in[e] + s * rng.normal(static_cast<uint64_t>(e)));
      break;
    }
    case Corruption::speckle_noise: {
      const double s = pick(kSpeckle, t, severity);
      for (int64_t e = 0; e < d; ++e) {
        const double x = im.in[e];
        im.out[e] = clip01(x + x * s * rng.normal(static_cast<uint64_t>(e)));
      }
      break;
    }
    case Corruption::shot_noise: {
      const double s = pick(kShot, t, severity);
      for (int64_t e = 0; e < d; ++e) {
        const double lam = im.in[e] * s;
        const auto u = static_cast<uint64_t>(e);
        const int64_t k = lam <= 0 ? 0 : (lam < 10 ? poisson_small(lam, rng, u) : poisson_ptrs(lam, rng, u));
        im.out[e] = clip01(static_cast<double>(k) / s);
      }
      break;
    }
    case Corruption::impulse_noise: {
      const double amount = pick(kImpulse, t, severity);
      for (int64_t e = 0; e < d; ++e) {
        double u[2];
        rng.uniforms(static_cast<uint64_t>(e), 0, u);
        im.out[e] = u[0] < amount ? (u[1] < 0.5 ? 1.0f : 0.0f) : clip01(im.in[e]);
      }
      break;
    }
    default: break;
  }
}

}  // namespace modelgate::corruptions
