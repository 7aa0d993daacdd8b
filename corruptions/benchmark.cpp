#include "corruptions/benchmark.h"

#include "corruptions/families.h"

#include <ATen/Parallel.h>

#include <stdexcept>
#include <string>

namespace modelgate::corruptions {
namespace {

constexpr std::array<std::string_view, kCorruptions> kNames = {
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate"};

enum class Family { noise, colour, blur, pixel, none };

Family family(Corruption c) {
  switch (c) {
    case Corruption::gaussian_noise:
    case Corruption::shot_noise:
    case Corruption::impulse_noise:
    case Corruption::speckle_noise: return Family::noise;
    case Corruption::brightness:
    case Corruption::contrast:
    case Corruption::saturate: return Family::colour;
    case Corruption::gaussian_blur:
    case Corruption::defocus_blur: return Family::blur;
    case Corruption::pixelate:
    case Corruption::jpeg_compression: return Family::pixel;
    default: return Family::none;
  }
}

}  // namespace

const std::array<Corruption, kCorruptions>& all_corruptions() {
  static const auto all = [] {
    std::array<Corruption, kCorruptions> a{};
    for (int i = 0; i < kCorruptions; ++i) a[static_cast<size_t>(i)] = static_cast<Corruption>(i);
    return a;
  }();
  return all;
}

std::string_view to_string(Corruption c) { return kNames[static_cast<size_t>(c)]; }

std::optional<Corruption> corruption_from(std::string_view name) {
  for (int i = 0; i < kCorruptions; ++i)
    if (kNames[static_cast<size_t>(i)] == name) return static_cast<Corruption>(i);
  return std::nullopt;
}

bool in_mean_error(Corruption c) { return static_cast<int>(c) < kInMeanError; }
bool implemented(Corruption c) { return family(c) != Family::none; }

std::string_view to_string(Table t) { return t == Table::cifar ? "cifar" : "imagenet"; }

std::optional<Table> table_from(std::string_view name) {
  if (name == "cifar") return Table::cifar;
  if (name == "imagenet") return Table::imagenet;
  return std::nullopt;
}

Table table_for(int64_t height, int64_t width) { return std::max(height, width) <= 64 ? Table::cifar : Table::imagenet; }

at::Tensor corrupt(const at::Tensor& x, Corruption c, int severity, Table table, uint64_t seed, int64_t first_index) {
  if (severity < 1 || severity > 5) throw std::invalid_argument("corruption severity must be 1..5, got " + std::to_string(severity));
  if (x.dim() != 4 || (x.size(1) != 1 && x.size(1) != 3))
    throw std::invalid_argument("corruptions take N×C×H×W images with 1 or 3 channels");
  if (!implemented(c)) throw std::invalid_argument(std::string(to_string(c)) + " is not implemented in this build");
  const auto in = x.to(at::kCPU, at::kFloat).contiguous();
  auto out = at::empty_like(in);
  const int64_t n = in.size(0), ch = in.size(1), h = in.size(2), w = in.size(3), d = ch * h * w;
  const float* ip = in.const_data_ptr<float>();
  float* op = out.data_ptr<float>();
  const auto fam = family(c);
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const Image im{ip + i * d, op + i * d, ch, h, w};
      switch (fam) {
        case Family::noise:
          apply_noise(c, severity, table, im, SampleStream(seed, static_cast<uint64_t>(first_index + i), c, severity));
          break;
        case Family::colour: apply_colour(c, severity, table, im); break;
        case Family::blur: apply_blur(c, severity, table, im); break;
        case Family::pixel: apply_pixel(c, severity, table, im); break;
        case Family::none: break;
      }
    }
  });
  return out.to(x.device());
}

}  // namespace modelgate::corruptions
