// CIFAR-10's and CIFAR-100's binary batches: fixed-size records of label byte(s) and 3072 pixel
// bytes (1024 R, then 1024 G, then 1024 B, rows top to bottom), read per batch with pread.
#include "engine/data/npy.h"
#include "engine/data/source.h"

#include "engine/errors.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <utility>
#include <vector>

namespace modelgate::engine::data {
namespace fs = std::filesystem;
namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

[[noreturn]] void bad(const fs::path& file, const std::string& what) {
  throw InputError(fmt::format("{}: {}", file.string(), what));
}

class CifarSource : public Source {
 public:
  CifarSource(fs::path file, int fd, int64_t label_bytes, int64_t label_index, int64_t records)
      : file_(std::move(file)), fd_(fd), record_(label_bytes + kPixels), label_bytes_(label_bytes) {
    // The labels, from one pass over the file in blocks of records.
    labels_ = at::empty({records}, at::kLong);
    auto* y = labels_.data_ptr<int64_t>();
    constexpr int64_t kBlock = 1024;
    std::vector<unsigned char> buf(static_cast<size_t>(kBlock * record_));
    for (int64_t first = 0; first < records; first += kBlock) {
      const int64_t n = std::min(kBlock, records - first);
      pread_or_fail(file_, fd_, buf.data(), static_cast<uint64_t>(n * record_), static_cast<uint64_t>(first * record_));
      for (int64_t i = 0; i < n; ++i) y[first + i] = buf[static_cast<size_t>(i * record_ + label_index)];
    }
  }
  ~CifarSource() override { ::close(fd_); }
  int64_t size() const override { return labels_.size(0); }
  std::vector<int64_t> sample_shape() const override { return {3, 32, 32}; }
  const at::Tensor& labels() const override { return labels_; }
  at::Tensor read(const std::vector<int64_t>& idx) const override {
    auto raw = at::empty({static_cast<int64_t>(idx.size()), 3, 32, 32}, at::kByte);
    auto* out = raw.data_ptr<uint8_t>();
    std::vector<unsigned char> record(static_cast<size_t>(record_));
    for (size_t k = 0; k < idx.size(); ++k) {
      pread_or_fail(file_, fd_, record.data(), static_cast<uint64_t>(record_), static_cast<uint64_t>(idx[k] * record_));
      std::copy(record.begin() + label_bytes_, record.end(), out + static_cast<int64_t>(k) * kPixels);
    }
    return raw.to(at::kFloat).div_(255.0);
  }
  bool unit_range_by_construction() const override { return true; }
  std::string describe(int64_t i) const override { return fmt::format("record {}", i); }
  std::string storage() const override { return label_bytes_ == 2 ? "CIFAR-100 binary records" : "CIFAR-10 binary records"; }

 private:
  fs::path file_;
  int fd_;
  int64_t record_, label_bytes_;
  at::Tensor labels_;
};

}  // namespace

std::unique_ptr<Source> open_cifar_bin(const DatasetSpec& spec) {
  const auto& file = spec.path;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) bad(file, "dataset not found or not a regular file");
  const auto size = static_cast<int64_t>(fs::file_size(file, ec));
  if (ec) bad(file, "cannot read the file's size");
  // CIFAR-10: one label byte; CIFAR-100: the coarse label byte, then the fine one.
  const bool cifar100 = spec.cifar100.has_value();
  const int64_t label_bytes = cifar100 ? 2 : 1, record = label_bytes + kPixels;
  const int64_t label_index = cifar100 && *spec.cifar100 == "fine" ? 1 : 0;
  if (size == 0) bad(file, "the dataset is empty");
  if (size % record != 0) {
    const int64_t other = cifar100 ? 1 + kPixels : 2 + kPixels;
    bad(file, fmt::format("{} bytes is not a whole number of {}-byte CIFAR-{} records{}", size, record, cifar100 ? 100 : 10,
                          size % other == 0 ? fmt::format(" (it is of {}-byte CIFAR-{} records: {})", other,
                                                          cifar100 ? 10 : 100,
                                                          cifar100 ? "leave out spec.dataset.labels"
                                                                   : "set spec.dataset.labels: fine or coarse")
                                            : ""));
  }
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) bad(file, "cannot open the dataset");
  try {
    return std::make_unique<CifarSource>(file, fd, label_bytes, label_index, size / record);
  } catch (...) {
    ::close(fd);
    throw;
  }
}

}  // namespace modelgate::engine::data
