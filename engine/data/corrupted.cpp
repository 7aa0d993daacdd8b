// corrupted-npy: the CIFAR-10-C / Tiny-ImageNet-C layout. A folder of <corruption>.npy files,
// each N·5 samples (N×H×W×C uint8 as published, or any pixel array .npy takes) with the five
// severities stacked in order, and labels.npy: one label per row (5N, the published files) or
// one per sample of a severity (N). One (corruption, severity) block is read like an .npy file,
// offset by (severity−1)·N rows.
#include "engine/data/source.h"

#include "engine/errors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace modelgate::engine::data {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void bad(const fs::path& file, const std::string& what) {
  throw InputError(fmt::format("{}: {}", file.string(), what));
}

// labels.npy, checked against the rows of a corruption file: 5N or N integers.
at::Tensor all_labels(const DatasetSpec& spec, int64_t rows) {
  const auto file = spec.path / "labels.npy";
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) bad(spec.path, "no labels.npy in the corrupted-npy folder");
  auto y = read_npy_file(file, 8 * static_cast<uint64_t>(rows) + 1024);
  if (y.dim() == 1 && y.size(0) == rows / kStoredSeverities) return checked_labels(file, y, y.size(0));
  if (y.dim() == 1 && y.size(0) != rows)
    bad(file, fmt::format("{} labels, but the corruption files have {} rows ({} per severity): expected {} or {}", y.size(0),
                          rows, rows / kStoredSeverities, rows, rows / kStoredSeverities));
  return checked_labels(file, y, rows);
}

// Rows of one corruption file: a whole number of severities, each with at least one sample.
int64_t per_severity(const fs::path& file, const NpyHeader& h) {
  if (h.shape[0] % kStoredSeverities != 0)
    bad(file, fmt::format("{} rows is not {} severities of equal size (the files stack severities 1 to {} in order)",
                          h.shape[0], kStoredSeverities, kStoredSeverities));
  return h.shape[0] / kStoredSeverities;
}

void check_severity(const fs::path& dir, int64_t s) {
  if (s < 1 || s > kStoredSeverities) bad(dir, fmt::format("severity {} is outside 1..{}", s, kStoredSeverities));
}

}  // namespace

std::vector<std::string> stored_corruptions(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& p = it->path();
    if (p.extension() == ".npy" && p.filename() != "labels.npy" && it->is_regular_file(ec)) out.push_back(p.stem().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::unique_ptr<Source> open_corrupted_block(const DatasetSpec& spec) {
  const auto& block = *spec.block;
  check_severity(spec.path, block.severity);
  const auto file = spec.corruption_file(block.corruption);
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    bad(file, fmt::format("corruption '{}' not found in the corrupted-npy folder (it holds: {})", block.corruption,
                          fmt::join(stored_corruptions(spec.path), ", ")));
  return open_npy_pixels(file, spec.layout, [&](const NpyHeader& h) {
    const int64_t n = per_severity(file, h);
    const auto y = all_labels(spec, h.shape[0]);
    const int64_t first = (block.severity - 1) * n;
    return NpyRows{first, y.size(0) == n ? y : y.narrow(0, first, n).contiguous()};
  });
}

int64_t check_corrupted_set(const DatasetSpec& spec) {
  if (spec.corruptions.empty())
    bad(spec.path, "no corruption files (<corruption>.npy beside labels.npy) in the corrupted-npy folder");
  std::optional<std::vector<int64_t>> shape;
  fs::path first_file;
  int64_t n = 0;
  for (const auto s : spec.severities) check_severity(spec.path, s);
  for (const auto& c : spec.corruptions) {
    auto one = spec;
    one.block = CorruptedBlock{c, spec.severities.empty() ? 1 : spec.severities.front()};
    const auto source = open_corrupted_block(one);  // the header, the row count and labels.npy, checked
    const auto file = spec.corruption_file(c);
    auto s = source->sample_shape();
    if (!shape) {
      shape = s;
      first_file = file;
      n = source->size();
    } else if (s != *shape || source->size() != n) {
      bad(file, fmt::format("{} samples of [{}] per severity, but {} has {} of [{}]: every corruption file holds the same "
                            "samples",
                            source->size(), fmt::join(s, ", "), first_file.filename().string(), n, fmt::join(*shape, ", ")));
    }
  }
  return n;
}

}  // namespace modelgate::engine::data
