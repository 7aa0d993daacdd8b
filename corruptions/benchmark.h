#pragma once
// Hendrycks and Dietterich's corruption benchmark (ICLR 2019: CIFAR-10-C, ImageNet-C): its 19
// corruptions at five severities, on float N×C×H×W tensors in [0, 1] with 1 or 3 channels.
//
// Parameters come from one of two tables: `cifar` (the CIFAR-10-C generation script,
// make_cifar_c.py) or `imagenet` (ImageNet-C's make_imagenet_c.py, as the `imagecorruptions`
// package ships it). table_for() picks cifar for images whose longer side is at most 64 px.
//
// Randomness is drawn per sample from Philox keyed by (seed, sample index, corruption,
// severity) — see random.h — so a sample's corruption does not depend on the batch it is in or
// the device. Grey (1-channel) images are corrupted channel by channel where the corruption
// works per channel; the colour ones (brightness, saturate) follow imagecorruptions' grey rules
// (brightness: the value plus c; saturate: the grey image as RGB, its red channel kept).
#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace modelgate::corruptions {

/// In the benchmark's order: the 15 of the mean corruption error, then the 4 held-out ones.
enum class Corruption {
  gaussian_noise, shot_noise, impulse_noise, defocus_blur, glass_blur, motion_blur, zoom_blur, snow, frost, fog,
  brightness, contrast, elastic_transform, pixelate, jpeg_compression,
  speckle_noise, gaussian_blur, spatter, saturate
};
constexpr int kCorruptions = 19;
constexpr int kInMeanError = 15;

const std::array<Corruption, kCorruptions>& all_corruptions();
std::string_view to_string(Corruption c);
std::optional<Corruption> corruption_from(std::string_view name);
/// One of the 15 that mCE averages (the other four are reported, not averaged).
bool in_mean_error(Corruption c);
/// Whether this build implements it (the others are refused when a job is read).
bool implemented(Corruption c);

enum class Table { cifar, imagenet };
std::string_view to_string(Table t);
std::optional<Table> table_from(std::string_view name);
/// cifar for images whose longer side is at most 64 px, imagenet above.
Table table_for(int64_t height, int64_t width);

/// The corruption at `severity` (1..5) from `table`, on float x (N×C×H×W, values in [0, 1],
/// C = 1 or 3); sample i draws from the stream of sample first_index + i. Returns a new
/// float32 tensor in [0, 1] on x's device. Throws std::invalid_argument on a bad severity,
/// shape or an unimplemented corruption.
at::Tensor corrupt(const at::Tensor& x, Corruption c, int severity, Table table, uint64_t seed, int64_t first_index);

}  // namespace modelgate::corruptions
