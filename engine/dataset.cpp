#include "engine/dataset.h"

#include "engine/errors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <numeric>
#include <optional>

namespace modelgate::engine {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void bad(const fs::path& file, const std::string& what) {
  throw InputError(fmt::format("{}: {}", file.string(), what));
}

// What a dataset held in memory (.npz, .pt) may take: half of the machine's memory.
uint64_t memory_budget() {
  const auto pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 2 : (4ull << 30);
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The values pass: every sample finite and in [0, 1], a batch at a time.
void check_values(const Dataset& d) {
  constexpr int64_t kBatch = 512;
  for (int64_t first = 0; first < d.size(); first += kBatch) {
    const int64_t len = std::min(kBatch, d.size() - first);
    const auto x = d.inputs(first, len).flatten(1);
    const auto finite = at::isfinite(x).all(1);
    const auto in_range = x.ge(0).logical_and(x.le(1)).all(1).logical_and(finite);
    if (in_range.all().item<bool>()) continue;
    const int64_t i = in_range.logical_not().nonzero()[0][0].item<int64_t>();
    const auto row = x[i];
    if (!finite[i].item<bool>())
      bad(d.path, fmt::format("inputs: sample {} contains NaN or infinite values", d.file_index(first + i)));
    bad(d.path, fmt::format("inputs: values must lie in [0, 1], sample {} has [{}, {}] (8-bit pixels can be stored as "
                            "uint8, which is scaled by 1/255)",
                            d.file_index(first + i), row.min().item<double>(), row.max().item<double>()));
  }
}

}  // namespace

std::vector<int64_t> sample_indices(int64_t n, const data::SampleSpec& sample) {
  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  uint64_t state = sample.seed;
  const int64_t take = std::min(sample.n, n);
  for (int64_t i = 0; i < take; ++i) {
    const auto span = static_cast<uint64_t>(n - i);
    // Lemire's bound is not needed for determinism; the modulo bias is below 2^-40 for any real n.
    const auto j = i + static_cast<int64_t>(splitmix64(state) % span);
    std::swap(all[static_cast<size_t>(i)], all[static_cast<size_t>(j)]);
  }
  all.resize(static_cast<size_t>(take));
  std::sort(all.begin(), all.end());
  return all;
}

at::Tensor Dataset::inputs(int64_t first, int64_t len) const {
  return source_->read({index_.begin() + first, index_.begin() + first + len});
}

at::Tensor Dataset::labels(int64_t first, int64_t len) const {
  const auto& all = source_->labels();
  const bool run = index_[static_cast<size_t>(first + len - 1)] - index_[static_cast<size_t>(first)] == len - 1;
  if (run) return all.narrow(0, index_[static_cast<size_t>(first)], len);
  return all.index_select(0, at::tensor(std::vector<int64_t>(index_.begin() + first, index_.begin() + first + len), at::kLong));
}

namespace {

// corrupted-npy without spec.block: each selected block opened and checked (labels, values), the
// clean set opened with the same limit and sample; the result is the clean set, or the first
// block standing in for it; and the largest label of them all.
std::pair<Dataset, int64_t> open_corrupted_set(const data::DatasetSpec& spec) {
  const int64_t n = data::check_corrupted_set(spec);
  std::optional<Dataset> clean;
  if (spec.clean) {
    auto c = *spec.clean;
    c.limit = spec.limit;
    c.sample = spec.sample;
    if (c.format_of() == data::Format::corrupted_npy) bad(c.path, "the clean set of a corrupted-npy folder cannot be one");
    clean = open_dataset(c);
    if (clean->file_samples() != n)
      bad(c.path, fmt::format("{} samples, but each severity of the corrupted files in {} has {}: the clean set is the one "
                              "the corrupted files were made from, in the same order",
                              clean->file_samples(), spec.path.string(), n));
  }
  int64_t max_label = 0;
  std::optional<Dataset> first;
  for (const auto& c : spec.corruptions)
    for (const auto s : spec.severities) {
      auto one = spec;
      one.block = data::CorruptedBlock{c, s};
      auto block = open_dataset(one);
      if (clean && block.sample_shape() != clean->sample_shape())
        bad(block.path, fmt::format("samples of [{}], but the clean set's are [{}]", fmt::join(block.sample_shape(), ", "),
                                    fmt::join(clean->sample_shape(), ", ")));
      max_label = std::max(max_label, block.max_label());
      if (!first) first = std::move(block);
    }
  Dataset d = clean ? std::move(*clean) : std::move(*first);
  d.has_clean_samples = clean.has_value();
  if (clean) d.clean_path = spec.clean->path;
  d.path = spec.path;
  d.format = data::Format::corrupted_npy;
  max_label = std::max(max_label, d.max_label());
  return {std::move(d), max_label};
}

}  // namespace

Dataset open_dataset(const data::DatasetSpec& spec) {
  Dataset d;
  d.path = spec.path;
  std::error_code ec;
  if (!fs::exists(spec.path, ec)) bad(spec.path, "dataset not found");
  d.format = spec.format_of();
  using data::Format;
  if (d.format == Format::corrupted_npy && !spec.block) {
    auto [set, max_label] = open_corrupted_set(spec);
    set.max_label_ = max_label;
    return std::move(set);
  }
  if (d.format != Format::imagefolder && d.format != Format::corrupted_npy && !fs::is_regular_file(spec.path, ec))
    bad(spec.path, fmt::format("not a regular file (the {} format is one file)", data::to_string(d.format)));
  if (d.format == Format::corrupted_npy) d.path = spec.corruption_file(spec.block->corruption);
  switch (d.format) {
    case Format::npz: d.source_ = data::open_npz(spec, memory_budget()); break;
    case Format::pt: d.source_ = data::open_pt(spec, memory_budget()); break;
    case Format::npy: d.source_ = data::open_npy(spec); break;
    case Format::cifar_bin: d.source_ = data::open_cifar_bin(spec); break;
    case Format::imagefolder: d.source_ = data::open_image_folder(spec, d.skipped_files, d.skipped_names); break;
    case Format::corrupted_npy: d.source_ = data::open_corrupted_block(spec); break;
  }
  int64_t n = d.source_->size();
  if (spec.limit) n = std::min(n, *spec.limit);
  if (spec.sample) d.index_ = sample_indices(n, *spec.sample);
  else {
    d.index_.resize(static_cast<size_t>(n));
    std::iota(d.index_.begin(), d.index_.end(), 0);
  }
  if (d.index_.empty()) bad(spec.path, "the dataset is empty");
  const auto y = d.labels(0, d.size());
  if (y.min().item<int64_t>() < 0) bad(spec.path, "labels: negative class index");
  d.max_label_ = y.max().item<int64_t>();
  if (!d.source_->unit_range_by_construction()) check_values(d);
  return d;
}

Dataset load_dataset(const fs::path& path) {
  data::DatasetSpec spec;
  spec.path = path;
  return open_dataset(spec);
}

void check_labels(const Dataset& data, int64_t num_classes, const std::string& model_path) {
  if (data.max_label() >= num_classes)
    bad(data.path, fmt::format("labels: class {} is outside the {} classes of {}", data.max_label(), num_classes, model_path));
}

}  // namespace modelgate::engine
