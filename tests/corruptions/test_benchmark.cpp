// The corruption benchmark's CPU implementation: names and tables, per-sample streams that do
// not depend on batching, the closed-form colour changes against scikit-image's HSV round
// trip, and the statistics of the random ones. Agreement with the reference package itself is
// tests/cli/test_corruption_benchmark.py.
#include "corruptions/benchmark.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <tuple>

namespace mc = modelgate::corruptions;
using mc::Corruption;
using mc::Table;

namespace {

at::Tensor images(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed = 1) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  // Smooth content plus texture, like photographs: a blurred field and some noise.
  auto x = at::rand({n, c, h / 4, w / 4}, gen);
  x = at::upsample_bilinear2d(x, {h, w}, false);
  return (0.8 * x + 0.2 * at::rand({n, c, h, w}, gen)).clamp(0, 1);
}

std::vector<Corruption> implemented() {
  std::vector<Corruption> out;
  for (auto c : mc::all_corruptions())
    if (mc::implemented(c)) out.push_back(c);
  return out;
}

// scikit-image's rgb2hsv and hsv2rgb, transcribed, for one pixel: the oracle of the closed forms.
void rgb2hsv(const double* rgb, double* hsv) {
  const double v = std::max({rgb[0], rgb[1], rgb[2]}), delta = v - std::min({rgb[0], rgb[1], rgb[2]});
  double h = 0;
  if (delta > 0) {
    if (rgb[0] == v) h = (rgb[1] - rgb[2]) / delta;
    if (rgb[1] == v) h = 2.0 + (rgb[2] - rgb[0]) / delta;
    if (rgb[2] == v) h = 4.0 + (rgb[0] - rgb[1]) / delta;
    h = std::fmod(h / 6.0, 1.0);
    if (h < 0) h += 1.0;
  }
  hsv[0] = h;
  hsv[1] = delta > 0 ? delta / v : 0;
  hsv[2] = v;
}

void hsv2rgb(const double* hsv, double* rgb) {
  const double h = hsv[0], s = hsv[1], v = hsv[2];
  const int hi = static_cast<int>(std::floor(h * 6)) % 6;
  const double f = h * 6 - std::floor(h * 6);
  const double p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
  const double table[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
  for (int k = 0; k < 3; ++k) rgb[k] = table[hi][k];
}

}  // namespace

TEST(CorruptionNames, NineteenInTheBenchmarksOrderFifteenInTheMean) {
  const auto& all = mc::all_corruptions();
  ASSERT_EQ(all.size(), 19u);
  std::set<std::string> names;
  for (auto c : all) {
    const auto name = std::string(mc::to_string(c));
    names.insert(name);
    ASSERT_EQ(mc::corruption_from(name), c) << name;
  }
  EXPECT_EQ(names.size(), 19u);
  EXPECT_EQ(mc::to_string(all[0]), "gaussian_noise");
  EXPECT_EQ(mc::to_string(all[14]), "jpeg_compression");
  int in_mean = 0;
  for (auto c : all) in_mean += mc::in_mean_error(c);
  EXPECT_EQ(in_mean, 15);
  EXPECT_FALSE(mc::in_mean_error(Corruption::speckle_noise));
  EXPECT_FALSE(mc::in_mean_error(Corruption::saturate));
  EXPECT_FALSE(mc::corruption_from("noise"));
}

TEST(CorruptionTables, CifarUpTo64PixelsImagenetAbove) {
  EXPECT_EQ(mc::table_for(32, 32), Table::cifar);
  EXPECT_EQ(mc::table_for(64, 40), Table::cifar);
  EXPECT_EQ(mc::table_for(65, 65), Table::imagenet);
  EXPECT_EQ(mc::table_for(224, 224), Table::imagenet);
  EXPECT_EQ(mc::table_from("cifar"), Table::cifar);
  EXPECT_FALSE(mc::table_from("tiny"));
}

TEST(Corruptions, EveryImplementedOneKeepsShapeAndRangeForRgbAndGrey) {
  for (auto c : implemented())
    for (int64_t ch : {1, 3})
      for (int s = 1; s <= 5; ++s)
        for (auto t : {Table::cifar, Table::imagenet}) {
          const auto x = images(2, ch, 33, 40);
          const auto y = mc::corrupt(x, c, s, t, 7, 0);
          ASSERT_EQ(y.sizes(), x.sizes()) << mc::to_string(c);
          EXPECT_GE(y.min().item<float>(), 0.0f) << mc::to_string(c) << " " << s;
          EXPECT_LE(y.max().item<float>(), 1.0f) << mc::to_string(c) << " " << s;
          // Every severity changes the image (contrast and saturate included).
          if (!(c == Corruption::saturate && ch == 1))
            EXPECT_GT((y - x).abs().max().item<float>(), 0.0f) << mc::to_string(c) << " " << s << " c=" << ch;
        }
}

TEST(Corruptions, ASamplesResultDependsOnItsIndexNotItsBatch) {
  const auto x = images(6, 3, 32, 32);
  for (auto c : implemented()) {
    const auto whole = mc::corrupt(x, c, 3, Table::cifar, 11, 100);
    const auto a = mc::corrupt(x.slice(0, 0, 2), c, 3, Table::cifar, 11, 100);
    const auto b = mc::corrupt(x.slice(0, 2, 6), c, 3, Table::cifar, 11, 102);
    EXPECT_TRUE(at::equal(whole, at::cat({a, b}))) << mc::to_string(c);
    const auto again = mc::corrupt(x, c, 3, Table::cifar, 11, 100);
    EXPECT_TRUE(at::equal(whole, again)) << mc::to_string(c);
  }
}

TEST(Corruptions, RandomOnesDifferBySeedSampleAndSeverity) {
  const auto x = images(1, 3, 32, 32).repeat({2, 1, 1, 1});
  for (auto c : {Corruption::gaussian_noise, Corruption::shot_noise, Corruption::impulse_noise, Corruption::speckle_noise}) {
    const auto y = mc::corrupt(x, c, 4, Table::cifar, 1, 0);
    EXPECT_FALSE(at::equal(y[0], y[1])) << mc::to_string(c) << ": two samples share a stream";
    EXPECT_FALSE(at::equal(y, mc::corrupt(x, c, 4, Table::cifar, 2, 0))) << mc::to_string(c);
  }
  // Severity is part of the key: severity 4's noise is not severity 3's scaled.
  const auto zero = at::full({1, 1, 16, 16}, 0.5f);
  const auto d3 = (mc::corrupt(zero, Corruption::gaussian_noise, 3, Table::cifar, 1, 0) - 0.5) / 0.08;
  const auto d4 = (mc::corrupt(zero, Corruption::gaussian_noise, 4, Table::cifar, 1, 0) - 0.5) / 0.09;
  EXPECT_GT((d3 - d4).abs().max().item<float>(), 0.1f);
}

TEST(Corruptions, NoiseStatisticsFollowTheirDefinitions) {
  const int64_t n = 4, side = 64;
  const auto mid = at::full({n, 3, side, side}, 0.5f);
  // gaussian_noise, imagenet severity 1: σ = 0.08, clipping negligible at 0.5.
  auto d = mc::corrupt(mid, Corruption::gaussian_noise, 1, Table::imagenet, 3, 0) - 0.5;
  EXPECT_NEAR(d.mean().item<double>(), 0.0, 0.002);
  EXPECT_NEAR(d.std().item<double>(), 0.08, 0.08 * 0.02);
  // speckle_noise: x·N(0, c²), c = 0.15 at imagenet severity 1.
  d = mc::corrupt(mid, Corruption::speckle_noise, 1, Table::imagenet, 3, 0) - 0.5;
  EXPECT_NEAR(d.std().item<double>(), 0.5 * 0.15, 0.5 * 0.15 * 0.02);
  // shot_noise: Poisson(x·c)/c has mean x and variance x/c; both samplers (c = 500 at x = 0.5:
  // λ = 250, by rejection; c = 12 at x = 0.25: λ = 3, by inversion; clipping at 1 negligible).
  for (auto [t, sev, c, v] : {std::tuple{Table::cifar, 1, 500.0, 0.5}, std::tuple{Table::imagenet, 3, 12.0, 0.25}}) {
    const auto y = mc::corrupt(at::full_like(mid, v), Corruption::shot_noise, sev, t, 3, 0);
    const auto k = (y * c).round();
    EXPECT_TRUE(at::allclose(y * c, k, 0, 1e-3)) << "not a count over c";
    EXPECT_NEAR(k.mean().item<double>(), v * c, v * c * 0.01) << c;
    EXPECT_NEAR(k.var().item<double>(), v * c, v * c * 0.05) << c;
  }
  // impulse_noise: a share `amount` of elements flipped, half to 1 and half to 0.
  const auto y = mc::corrupt(mid, Corruption::impulse_noise, 5, Table::imagenet, 3, 0);  // amount 0.27
  const double salt = (y == 1).to(at::kDouble).mean().item<double>(), pepper = (y == 0).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(salt + pepper, 0.27, 0.01);
  EXPECT_NEAR(salt, pepper, 0.01);
  EXPECT_EQ(((y != 1) & (y != 0) & (y != 0.5)).sum().item<int64_t>(), 0);
}

TEST(Corruptions, ColourClosedFormsMatchTheHsvRoundTrip) {
  const auto x = images(3, 3, 32, 32, 5);
  // Some exactly grey and black pixels, and ties between channels.
  x[0].select(2, 0).fill_(0.25);
  x[1].select(2, 1).fill_(0);
  x[2].select(2, 2).narrow(0, 0, 2).fill_(0.75);
  const double brightness[5] = {0.05, 0.1, 0.15, 0.2, 0.3};
  const double sat_gain[5] = {0.3, 0.1, 1.5, 2, 2.5}, sat_shift[5] = {0, 0, 0, 0.1, 0.2};
  const auto a = x.accessor<float, 4>();
  for (int s = 1; s <= 5; ++s) {
    const auto yb = mc::corrupt(x, Corruption::brightness, s, Table::cifar, 0, 0);
    const auto ys = mc::corrupt(x, Corruption::saturate, s, Table::cifar, 0, 0);
    const auto b = yb.accessor<float, 4>(), sa = ys.accessor<float, 4>();
    double worst = 0;
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t yy = 0; yy < 32; ++yy)
        for (int64_t xx = 0; xx < 32; ++xx) {
          const double rgb[3] = {a[i][0][yy][xx], a[i][1][yy][xx], a[i][2][yy][xx]};
          double hsv[3], out[3];
          rgb2hsv(rgb, hsv);
          hsv[2] = std::clamp(hsv[2] + brightness[s - 1], 0.0, 1.0);
          hsv2rgb(hsv, out);
          for (int k = 0; k < 3; ++k) worst = std::max(worst, std::fabs(out[k] - b[i][k][yy][xx]));
          rgb2hsv(rgb, hsv);
          hsv[1] = std::clamp(hsv[1] * sat_gain[s - 1] + sat_shift[s - 1], 0.0, 1.0);
          hsv2rgb(hsv, out);
          for (int k = 0; k < 3; ++k) worst = std::max(worst, std::fabs(out[k] - sa[i][k][yy][xx]));
        }
    EXPECT_LT(worst, 1e-6) << "severity " << s;  // float32 output of a double computation
  }
}

TEST(Corruptions, ContrastScalesAboutTheChannelMean) {
  const auto x = images(2, 3, 32, 32) * 0.5 + 0.25;  // no clipping at any severity
  const auto y = mc::corrupt(x, Corruption::contrast, 5, Table::imagenet, 0, 0);  // c = 0.05
  const auto m = x.mean({2, 3}, true);
  EXPECT_TRUE(at::allclose(y, (x - m) * 0.05 + m, 0, 1e-6));
}

TEST(Corruptions, BlursPreserveConstantsAndSpreadAnImpulse) {
  const auto flat = at::full({1, 3, 40, 40}, 0.3f);
  // defocus_blur's kernel is the reference's: at ImageNet's severities 4 and 5 the disk reaches
  // the edge of its grid, where the anti-aliasing blur's reflect-101 border adds mass (the
  // kernel sums to about 1.01), so only severities 1-3 keep a flat image flat.
  for (auto c : {Corruption::gaussian_blur, Corruption::defocus_blur})
    for (int s = 1; s <= (c == Corruption::defocus_blur ? 3 : 5); ++s)
      EXPECT_TRUE(at::allclose(mc::corrupt(flat, c, s, Table::imagenet, 0, 0), flat, 0, 1e-6)) << mc::to_string(c) << s;
  auto dot = at::zeros({1, 1, 65, 65});
  dot[0][0][32][32] = 1;
  // gaussian_blur σ = 6 (imagenet 5): taps out to ⌊4σ + 0.5⌋ = 24, nothing beyond; the mass stays 1.
  const auto g = mc::corrupt(dot, Corruption::gaussian_blur, 5, Table::imagenet, 0, 0);
  EXPECT_NEAR(g.sum().item<double>(), 1.0, 1e-5);
  EXPECT_GT(g[0][0][32][32 + 24].item<float>(), 0.0f);
  EXPECT_EQ(g[0][0][32][32 + 25].item<float>(), 0.0f);
  // defocus_blur radius 10: the disk on a 21×21 grid, its anti-aliasing blur folded back at the
  // grid's edge (the mass above 1, as in the reference).
  const auto d = mc::corrupt(dot, Corruption::defocus_blur, 5, Table::imagenet, 0, 0);
  EXPECT_GT(d.sum().item<double>(), 1.001);
  EXPECT_LT(d.sum().item<double>(), 1.02);
  EXPECT_NEAR(mc::corrupt(dot, Corruption::defocus_blur, 3, Table::imagenet, 0, 0).sum().item<double>(), 1.0, 1e-5);
  EXPECT_GT(d[0][0][32][32 + 10].item<float>(), 0.0f);
  EXPECT_EQ(d[0][0][32][32 + 13].item<float>(), 0.0f);
  EXPECT_NEAR(d[0][0][32][32].item<double>(), d[0][0][32 + 5][32].item<double>(), 1e-6);  // flat inside the disk
}

TEST(Corruptions, PixelateMakesBlocksAndJpegGetsWorseWithSeverity) {
  const auto x = images(2, 3, 40, 40);
  // imagenet severity 5: c = 0.25, 40 → 10 → 40: 4×4 blocks of one value.
  const auto p = mc::corrupt(x, Corruption::pixelate, 5, Table::imagenet, 0, 0);
  for (int64_t by = 0; by < 10; ++by)
    for (int64_t bx = 0; bx < 10; ++bx) {
      const auto block = p.narrow(2, by * 4, 4).narrow(3, bx * 4, 4);
      const auto corner = block.narrow(2, 0, 1).narrow(3, 0, 1);
      ASSERT_TRUE(at::equal(block, corner.expand_as(block)));
      // the block holds the mean of its 4×4 source pixels
      ASSERT_TRUE(at::allclose(corner.squeeze(), x.narrow(2, by * 4, 4).narrow(3, bx * 4, 4).mean({2, 3}), 0, 1e-6));
    }
  double last = 0;
  for (int s = 1; s <= 5; ++s) {
    const auto j = mc::corrupt(x, Corruption::jpeg_compression, s, Table::imagenet, 0, 0);
    EXPECT_TRUE(at::equal((j * 255).round(), j * 255)) << "8-bit levels";
    const double err = (j - x).abs().mean().item<double>();
    EXPECT_GT(err, last) << "severity " << s;
    last = err;
  }
}

TEST(Corruptions, BadArgumentsAreRefused) {
  const auto x = images(1, 3, 32, 32);
  EXPECT_THROW(mc::corrupt(x, Corruption::contrast, 0, Table::cifar, 0, 0), std::invalid_argument);
  EXPECT_THROW(mc::corrupt(x, Corruption::contrast, 6, Table::cifar, 0, 0), std::invalid_argument);
  EXPECT_THROW(mc::corrupt(at::rand({1, 2, 8, 8}), Corruption::contrast, 1, Table::cifar, 0, 0), std::invalid_argument);
  for (auto c : mc::all_corruptions())
    if (!mc::implemented(c)) EXPECT_THROW(mc::corrupt(x, c, 1, Table::cifar, 0, 0), std::invalid_argument);
}
