#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <string>

namespace modelgate::engine {

/// A labelled evaluation set, on the CPU.
struct Dataset {
  std::filesystem::path path;
  at::Tensor inputs;  ///< float32 N×C×H×W, values in [0, 1]
  at::Tensor labels;  ///< int64 N
  int64_t size() const { return labels.size(0); }
};

/// Loads `.npz` (arrays `inputs`, `labels`) or `.pt` (a torch.save'd dict with the same keys)
/// and checks shapes, dtypes, counts, finiteness and the [0, 1] range. Throws InputError
/// naming the file and the array.
Dataset load_dataset(const std::filesystem::path& path);

/// Checks that every label is a valid class index of a model with `num_classes` outputs.
void check_labels(const Dataset& data, int64_t num_classes, const std::string& model_path);

}  // namespace modelgate::engine
