#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace modelgate::engine::data {

/// How a dataset is stored (ValidationJob spec.dataset.format).
enum class Format { npz, npy, pt, cifar_bin, imagefolder, corrupted_npy };

std::string to_string(Format f);
/// "npz", "npy", "pt", "cifar-bin", "imagefolder", "corrupted-npy"; nullopt otherwise.
std::optional<Format> parse_format(const std::string& name);

/// Pixel arrays' axis order: as stored (N×C×H×W or N×H×W×C), or detected.
enum class Layout { detect, nchw, nhwc };

/// A deterministic subset: n samples drawn without replacement by a seeded shuffle that is the
/// same on every machine, kept in file order.
struct SampleSpec {
  int64_t n = 0;
  uint64_t seed = 0;
};

/// The severities a corrupted-npy file stacks, in order (CIFAR-10-C, Tiny-ImageNet-C).
constexpr int64_t kStoredSeverities = 5;

/// One (corruption, severity) block of a corrupted-npy folder: rows (severity−1)·n .. severity·n−1
/// of <corruption>.npy.
struct CorruptedBlock {
  std::string corruption;
  int64_t severity = 1;
};

/// ValidationJob spec.dataset: where the samples are and how to read them.
struct DatasetSpec {
  std::filesystem::path path;
  std::optional<Format> format;         ///< unset: from the path (format_of)
  Layout layout = Layout::detect;       ///< npz, npy, pt
  std::filesystem::path labels_path;    ///< npy: the labels array (default labels.npy beside it)
  std::optional<std::string> cifar100;  ///< cifar-bin: "fine" or "coarse" for CIFAR-100's records; unset: CIFAR-10
  std::optional<int64_t> resize;        ///< imagefolder: the shorter side, as torchvision's Resize(N)
  std::optional<int64_t> center_crop;   ///< imagefolder: torchvision's CenterCrop(N)
  int64_t channels = 3;                 ///< imagefolder: 3 (RGB, as torchvision) or 1 (Pillow's "L" luma, as Grayscale())
  bool skip_bad_files = false;          ///< imagefolder onError: skip (else a file that does not decode is an error)
  std::optional<int64_t> limit;         ///< the first N samples (of each severity, for corrupted-npy)
  std::optional<SampleSpec> sample;     ///< drawn after the limit
  /// corrupted-npy: the corruptions to read (file stems; from `all`: every .npy but labels.npy,
  /// sorted), the severities (1..5), and the clean set the files were made from (its samples are
  /// the clean evaluation's and the attacks'; unset: there are none, and the clean evaluation is
  /// skipped). limit and sample apply to the clean set and to each severity alike.
  std::vector<std::string> corruptions;
  std::vector<int64_t> severities;
  std::shared_ptr<const DatasetSpec> clean;
  std::optional<CorruptedBlock> block;  ///< set: this spec reads that block alone

  /// The format: as set, else from the path (.npz .npy .pt/.pth .bin; a folder with labels.npy:
  /// corrupted-npy; another folder: imagefolder).
  /// Throws InputError when the path says nothing.
  Format format_of() const;
  /// What reading the dataset opens (the sandbox of a model worker may read these).
  std::vector<std::filesystem::path> read_paths() const;
  /// The labels array of an npy dataset (corrupted-npy: labels.npy in the folder).
  std::filesystem::path npy_labels() const;
  /// corrupted-npy: the file of one corruption.
  std::filesystem::path corruption_file(const std::string& corruption) const;
};

/// corrupted-npy: the corruptions a folder holds: every <name>.npy but labels.npy, sorted.
std::vector<std::string> stored_corruptions(const std::filesystem::path& dir);

}  // namespace modelgate::engine::data
