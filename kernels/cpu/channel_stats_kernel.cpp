// CPU kernel for modelgate::channel_stats: mean, population variance, fraction positive and max
// of every channel in a single pass over N×C×… data. Sums run in double around a per-channel
// shift (the channel's first value) so that the one-pass variance does not cancel.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

namespace modelgate::kernels {
namespace {

// Samples per partial result. The partials are merged in a fixed order, so the result does not
// depend on the thread count.
constexpr int64_t kSamplesPerPart = 8;

struct Partial {
  double sum = 0, squares = 0;
  int64_t positive = 0;
  float max = -std::numeric_limits<float>::infinity();
  bool nan = false;
};

// Values per strip. GCC's -O2 cost model ("very cheap") vectorizes a loop only when its trip
// count is a known multiple of the vector width, so each statistic keeps one partial per lane
// of a fixed-width strip; that also breaks the add latency chain.
constexpr int64_t kStrip = 8;

// Adds one contiguous run of a channel's values to p.
template <typename scalar_t>
void accumulate(const scalar_t* v, int64_t count, double shift, Partial& p) {
  double s[kStrip] = {}, q[kStrip] = {};
  int64_t pos[kStrip] = {}, nan[kStrip] = {};
  float mx[kStrip];
  for (int64_t l = 0; l < kStrip; ++l) mx[l] = p.max;
  auto add = [&](int64_t l, float f) {
    const double c = static_cast<double>(f) - shift;
    s[l] += c;
    q[l] += c * c;
    pos[l] += f > 0;
    mx[l] = f > mx[l] ? f : mx[l];
    nan[l] |= f != f;
  };
  int64_t e = 0;
  for (; e + kStrip <= count; e += kStrip)
    for (int64_t l = 0; l < kStrip; ++l) add(l, static_cast<float>(v[e + l]));
  for (; e < count; ++e) add(0, static_cast<float>(v[e]));
  for (int64_t l = 0; l < kStrip; ++l) {
    p.sum += s[l];
    p.squares += q[l];
    p.positive += pos[l];
    p.max = std::max(p.max, mx[l]);
    p.nan = p.nan || nan[l];
  }
}

template <>
void accumulate<double>(const double* v, int64_t count, double shift, Partial& p) {
  // float64 input keeps full precision; the max is reported as float32 anyway.
  double s = 0, q = 0, mx = -std::numeric_limits<double>::infinity();
  int64_t pos = 0;
  bool nan = false;
  for (int64_t e = 0; e < count; ++e) {
    const double c = v[e] - shift;
    s += c;
    q += c * c;
    pos += v[e] > 0;
    mx = v[e] > mx ? v[e] : mx;
    nan |= v[e] != v[e];
  }
  p.sum += s;
  p.squares += q;
  p.positive += pos;
  p.max = std::max(p.max, static_cast<float>(mx));
  p.nan = p.nan || nan;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> channel_stats_cpu(const at::Tensor& x) {
  TORCH_CHECK(x.dim() >= 2, "channel_stats: x must be N×C×…, got ", x.dim(), " dims");
  TORCH_CHECK(at::isFloatingType(x.scalar_type()),
              "channel_stats: x must be a floating tensor (float32, float16, bfloat16 or float64), got ",
              x.scalar_type());
  const int64_t n = x.size(0), c = x.size(1), count = c == 0 ? 0 : x.numel() / c;
  const auto opts = x.options().dtype(at::kFloat);
  auto mean = at::empty({c}, opts), var = at::empty({c}, opts), positive = at::empty({c}, opts),
       max = at::empty({c}, opts);
  if (c == 0) return {mean, var, positive, max};
  if (count == 0) {
    // Statistics of no values are undefined: NaN, like at::mean of an empty tensor.
    for (auto* t : {&mean, &var, &positive, &max}) t->fill_(std::numeric_limits<float>::quiet_NaN());
    return {mean, var, positive, max};
  }
  const auto in = x.contiguous();
  const int64_t inner = count / n, parts = (n + kSamplesPerPart - 1) / kSamplesPerPart;
  std::vector<Partial> partial(parts * c);
  std::vector<double> shift(c);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "channel_stats_cpu", [&] {
    const scalar_t* xp = in.const_data_ptr<scalar_t>();
    for (int64_t ch = 0; ch < c; ++ch) shift[ch] = static_cast<double>(xp[ch * inner]);
    // Work items are (part, channel) pairs, so that a small batch with many channels splits too.
    const int64_t grain = std::max<int64_t>(1, 32768 / (kSamplesPerPart * inner));
    at::parallel_for(0, parts * c, grain, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t part = item / c, ch = item % c;
        const int64_t last = std::min(n, (part + 1) * kSamplesPerPart);
        for (int64_t i = part * kSamplesPerPart; i < last; ++i)
          accumulate(xp + (i * c + ch) * inner, inner, shift[ch], partial[item]);
      }
    });
  });
  float* mp = mean.data_ptr<float>();
  float* vp = var.data_ptr<float>();
  float* pp = positive.data_ptr<float>();
  float* maxp = max.data_ptr<float>();
  for (int64_t ch = 0; ch < c; ++ch) {
    Partial total;
    for (int64_t part = 0; part < parts; ++part) {
      const Partial& p = partial[part * c + ch];
      total.sum += p.sum;
      total.squares += p.squares;
      total.positive += p.positive;
      total.max = std::max(total.max, p.max);
      total.nan = total.nan || p.nan;
    }
    const double centred = total.sum / count;
    mp[ch] = static_cast<float>(shift[ch] + centred);
    // Rounding can push an almost-zero variance below zero; NaN must stay NaN.
    const double v = total.squares / count - centred * centred;
    vp[ch] = static_cast<float>(v < 0 ? 0.0 : v);
    pp[ch] = static_cast<float>(static_cast<double>(total.positive) / count);
    maxp[ch] = total.nan ? std::numeric_limits<float>::quiet_NaN() : total.max;
  }
  return {mean, var, positive, max};
}

}  // namespace

TORCH_LIBRARY_IMPL(modelgate, CPU, m) { m.impl("channel_stats", TORCH_FN(channel_stats_cpu)); }

}  // namespace modelgate::kernels
