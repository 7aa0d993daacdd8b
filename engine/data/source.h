#pragma once
#include "engine/data/npy.h"
#include "engine/data/spec.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace modelgate::engine::data {

/// A labelled set of samples read on demand. Labels are held (8 bytes a sample); pixels are
/// read per batch, so memory does not grow with the number of samples.
class Source {
 public:
  virtual ~Source() = default;
  virtual int64_t size() const = 0;
  /// C×H×W of one sample as read().
  virtual std::vector<int64_t> sample_shape() const = 0;
  /// int64, one per sample.
  virtual const at::Tensor& labels() const = 0;
  /// The samples `idx` as float32 n×C×H×W, 8-bit pixels scaled by 1/255. Safe to call from
  /// another thread while the caller works on the previous batch.
  virtual at::Tensor read(const std::vector<int64_t>& idx) const = 0;
  /// True when every value is in [0, 1] by construction (8-bit pixels): no value pass needed.
  virtual bool unit_range_by_construction() const = 0;
  /// Sample i in messages: "sample 17", "image cat/3.png".
  virtual std::string describe(int64_t i) const;
  /// How the pixels are stored, for the report: "uint8 NHWC", "float32 NCHW", "PNG/JPEG".
  virtual std::string storage() const = 0;
};

/// A stored pixel array's layout: as set, else N×H×W×C when the last axis is 1 or 3 and the
/// second is not.
Layout resolve_layout(Layout requested, const std::vector<int64_t>& shape);
/// Stored pixels (uint8 or float32, in `layout`) as float32 N×C×H×W; uint8 scaled by 1/255.
at::Tensor to_unit_nchw(const at::Tensor& raw, Layout layout);
/// Throws InputError unless `shape` is 4 dims and the dtype uint8 or float32.
void check_pixel_array(const std::filesystem::path& file, const std::string& name, at::ScalarType dtype,
                       const std::vector<int64_t>& shape);
/// The labels array: 1 dim of integers, one per sample, as int64.
at::Tensor checked_labels(const std::filesystem::path& file, const at::Tensor& labels, int64_t samples);

std::unique_ptr<Source> open_npz(const DatasetSpec& spec, uint64_t memory_budget);
std::unique_ptr<Source> open_pt(const DatasetSpec& spec, uint64_t memory_budget);
std::unique_ptr<Source> open_npy(const DatasetSpec& spec);

/// Which rows of a .npy pixel array a source reads: first .. first+labels.size(0)−1.
struct NpyRows {
  int64_t first = 0;
  at::Tensor labels;  ///< int64, one per row read
};
/// A .npy pixel array (uint8 or float32, 4 dims) read per batch; `rows` picks the rows once the
/// header is read and checked (nothing of the data is read before).
std::unique_ptr<Source> open_npy_pixels(const std::filesystem::path& file, Layout layout,
                                        const std::function<NpyRows(const NpyHeader&)>& rows);
/// corrupted-npy: one (corruption, severity) block, spec.block (labels.npy holds one label per
/// row of the corruption files, or one per sample of a severity).
std::unique_ptr<Source> open_corrupted_block(const DatasetSpec& spec);
/// corrupted-npy: checks every selected corruption file (its header: one shape for all, rows a
/// whole number of severities) and labels.npy; returns the samples per severity. Throws
/// InputError naming the file.
int64_t check_corrupted_set(const DatasetSpec& spec);
std::unique_ptr<Source> open_cifar_bin(const DatasetSpec& spec);
/// Images of an imagefolder that fail to decode are skipped and counted in `skipped` with
/// onError: skip (else the first is an InputError naming it).
std::unique_ptr<Source> open_image_folder(const DatasetSpec& spec, int64_t& skipped, std::vector<std::string>& skipped_files);

}  // namespace modelgate::engine::data
