#pragma once
#include "engine/data/source.h"
#include "engine/data/spec.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace modelgate::engine {

/// A labelled evaluation set, read a batch at a time (engine/data). Opening it checks every
/// label and every value (a streaming pass), so a bad sample is an input error before any
/// evaluation starts.
class Dataset {
 public:
  std::filesystem::path path;
  data::Format format = data::Format::npz;

  int64_t size() const { return static_cast<int64_t>(index_.size()); }
  /// C×H×W of one sample.
  std::vector<int64_t> sample_shape() const { return source_->sample_shape(); }
  /// float32 len×C×H×W in [0, 1]: samples first..first+len-1 of the (limited, sampled) set.
  at::Tensor inputs(int64_t first, int64_t len) const;
  /// int64 len.
  at::Tensor labels(int64_t first, int64_t len) const;
  /// The largest label (checked against each model's classes).
  int64_t max_label() const { return max_label_; }
  /// Sample i's index in the file (differs from i under limit/sample).
  int64_t file_index(int64_t i) const { return index_[static_cast<size_t>(i)]; }
  /// Samples in the file before limit/sample (after skipped images).
  int64_t file_samples() const { return source_->size(); }
  std::string storage() const { return source_->storage(); }
  int64_t skipped_files = 0;                ///< imagefolder onError: skip
  std::vector<std::string> skipped_names;   ///< their paths under the root
  /// corrupted-npy: the samples are the clean set's (spec.dataset.clean), or, without one, the
  /// first selected block's, which only give the shape: there are no clean samples to evaluate.
  bool has_clean_samples = true;
  std::filesystem::path clean_path;         ///< corrupted-npy: the clean set, when given

 private:
  friend Dataset open_dataset(const data::DatasetSpec& spec);
  std::shared_ptr<const data::Source> source_;
  std::vector<int64_t> index_;  ///< file indices, ascending
  int64_t max_label_ = 0;
};

/// Opens `spec` in its format, applies limit and sample, and checks labels (non-negative) and
/// values (finite, in [0, 1]). Throws InputError naming the file, and the sample where there is one.
/// corrupted-npy: every selected (corruption, severity) block is checked the same way, and
/// max_label() covers them all; the Dataset holds the clean set (or a stand-in, see
/// has_clean_samples). With spec.block: that block alone.
Dataset open_dataset(const data::DatasetSpec& spec);
/// A dataset file in the format its name says (.npz, .npy, .pt, .bin, a folder).
Dataset load_dataset(const std::filesystem::path& path);

/// Checks that every label is a valid class index of a model with `num_classes` outputs.
void check_labels(const Dataset& data, int64_t num_classes, const std::string& model_path);

/// The indices `sample` draws from 0..n-1: a partial Fisher-Yates shuffle driven by SplitMix64
/// (the same on every machine and standard library), sorted ascending.
std::vector<int64_t> sample_indices(int64_t n, const data::SampleSpec& sample);

}  // namespace modelgate::engine
