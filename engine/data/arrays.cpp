// Pixel arrays: .npz and .pt held in memory as stored (compressed archives cannot be read per
// sample), .npy read per batch with pread.
#include "engine/data/npy.h"
#include "engine/data/source.h"

#include "engine/errors.h"
#include "engine/scan/scan.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/serialize.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <utility>

namespace modelgate::engine::data {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void bad(const fs::path& file, const std::string& what) {
  throw InputError(fmt::format("{}: {}", file.string(), what));
}

std::string dtype_name(at::ScalarType t) { return t == at::kByte ? "uint8" : "float32"; }

// Samples held as stored (uint8 or float32, NCHW or NHWC); converted a batch at a time.
class TensorSource : public Source {
 public:
  TensorSource(at::Tensor inputs, at::Tensor labels, Layout layout)
      : inputs_(std::move(inputs)), labels_(std::move(labels)), layout_(layout) {}
  int64_t size() const override { return labels_.size(0); }
  std::vector<int64_t> sample_shape() const override {
    const auto s = inputs_.sizes();
    return layout_ == Layout::nhwc ? std::vector<int64_t>{s[3], s[1], s[2]} : std::vector<int64_t>{s[1], s[2], s[3]};
  }
  const at::Tensor& labels() const override { return labels_; }
  at::Tensor read(const std::vector<int64_t>& idx) const override {
    at::Tensor raw;
    if (!idx.empty() && idx.back() - idx.front() + 1 == static_cast<int64_t>(idx.size()))
      raw = inputs_.narrow(0, idx.front(), static_cast<int64_t>(idx.size()));  // a run of samples: no gather
    else
      raw = inputs_.index_select(0, at::tensor(idx, at::kLong));
    return to_unit_nchw(raw, layout_);
  }
  bool unit_range_by_construction() const override { return inputs_.scalar_type() == at::kByte; }
  std::string storage() const override {
    return fmt::format("{} {}, in memory", dtype_name(inputs_.scalar_type()), layout_ == Layout::nhwc ? "NHWC" : "NCHW");
  }

 private:
  at::Tensor inputs_, labels_;
  Layout layout_;
};

// Deflate cannot expand data by more than about 1032:1; a directory entry that claims more is a lie.
constexpr double kMaxDeflateRatio = 1032;

struct ZipRecord {
  std::string name;
  NpyHeader header;
  std::unique_ptr<zip_file_t, decltype(&zip_fclose)> stream{nullptr, zip_fclose};
};

bool zip_read_exactly(zip_file_t* f, void* dst, uint64_t n) {
  auto* out = static_cast<char*>(dst);
  while (n > 0) {
    const auto got = zip_fread(f, out, n);
    if (got <= 0) return false;
    out += got;
    n -= static_cast<uint64_t>(got);
  }
  return true;
}

// One array of a .npz archive, its header read and checked; its data still unread, so nothing
// of the declared size has been allocated.
ZipRecord open_record(const fs::path& file, zip_t* archive, const std::string& name) {
  const std::string entry = name + ".npy";
  zip_stat_t st;
  if (zip_stat(archive, entry.c_str(), 0, &st) != 0) bad(file, "no array '" + name + "' in the archive");
  if (st.comp_method != ZIP_CM_STORE && static_cast<double>(st.size) > kMaxDeflateRatio * static_cast<double>(st.comp_size) + 4096)
    bad(file, fmt::format("'{}': the archive's directory claims {} bytes from {} compressed, more than compression can "
                          "give: the archive is corrupt or crafted",
                          name, st.size, st.comp_size));
  ZipRecord r;
  r.name = name;
  r.stream.reset(zip_fopen(archive, entry.c_str(), 0));
  if (!r.stream) bad(file, "cannot open array '" + name + "': " + zip_strerror(archive));
  r.header = read_npy_header(file, name, [&](void* dst, uint64_t n) { return zip_read_exactly(r.stream.get(), dst, n); },
                             st.size);
  return r;
}

// The data of an opened array, read straight into its tensor (one copy of it in memory).
at::Tensor read_record(const fs::path& file, ZipRecord& r) {
  auto t = at::empty(r.header.shape, at::TensorOptions().dtype(r.header.dtype));
  if (!zip_read_exactly(r.stream.get(), t.data_ptr(), static_cast<uint64_t>(r.header.nbytes)))
    bad(file, "array '" + r.name + "' is truncated or corrupt");
  char extra;
  if (zip_fread(r.stream.get(), &extra, 1) != 0) bad(file, "array '" + r.name + "' holds more data than its header says");
  return t;
}

void check_budget(const fs::path& file, uint64_t need, uint64_t budget, const char* what) {
  if (need > budget)
    bad(file, fmt::format("{} take {:.1f} GiB, more than half of this machine's memory ({:.1f} GiB); store the pixels "
                          "as .npy, which is read per batch",
                          what, static_cast<double>(need) / (1ull << 30), 2.0 * static_cast<double>(budget) / (1ull << 30)));
}

std::unique_ptr<Source> checked_source(const fs::path& file, const at::Tensor& inputs, const at::Tensor& labels,
                                       Layout requested) {
  check_pixel_array(file, "inputs", inputs.scalar_type(), inputs.sizes().vec());
  auto y = checked_labels(file, labels, inputs.size(0));
  return std::make_unique<TensorSource>(inputs.contiguous(), std::move(y), resolve_layout(requested, inputs.sizes().vec()));
}

// Closes the descriptor unless it was handed on.
struct FileDescriptor {
  int fd;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

// A .npy file of pixels, read a sample at a time with pread: nothing but the header is held.
class NpyFileSource : public Source {
 public:
  NpyFileSource(const fs::path& file, int fd, NpyHeader h, NpyRows rows, Layout layout)
      : file_(file), fd_(fd), h_(std::move(h)), labels_(std::move(rows.labels)), first_(rows.first), layout_(layout) {
    sample_bytes_ = h_.nbytes / std::max<int64_t>(h_.shape[0], 1);
  }
  ~NpyFileSource() override { ::close(fd_); }
  int64_t size() const override { return labels_.size(0); }
  std::vector<int64_t> sample_shape() const override {
    const auto& s = h_.shape;
    return layout_ == Layout::nhwc ? std::vector<int64_t>{s[3], s[1], s[2]} : std::vector<int64_t>{s[1], s[2], s[3]};
  }
  const at::Tensor& labels() const override { return labels_; }
  at::Tensor read(const std::vector<int64_t>& idx) const override {
    std::vector<int64_t> shape = h_.shape;
    shape[0] = static_cast<int64_t>(idx.size());
    auto raw = at::empty(shape, at::TensorOptions().dtype(h_.dtype));
    auto* out = static_cast<char*>(raw.data_ptr());
    for (size_t k = 0; k < idx.size();) {
      size_t run = 1;  // consecutive samples are one read
      while (k + run < idx.size() && idx[k + run] == idx[k] + static_cast<int64_t>(run)) ++run;
      pread_or_fail(file_, fd_, out + k * sample_bytes_, run * sample_bytes_,
                    h_.data_offset + static_cast<uint64_t>(first_ + idx[k]) * sample_bytes_);
      k += run;
    }
    return to_unit_nchw(raw, layout_);
  }
  bool unit_range_by_construction() const override { return h_.dtype == at::kByte; }
  std::string storage() const override {
    return fmt::format("{} {}, read per batch", dtype_name(h_.dtype), layout_ == Layout::nhwc ? "NHWC" : "NCHW");
  }

 private:
  fs::path file_;
  int fd_;
  NpyHeader h_;
  at::Tensor labels_;
  int64_t first_;  ///< the file row of sample 0
  Layout layout_;
  uint64_t sample_bytes_ = 0;
};

}  // namespace

Layout resolve_layout(Layout requested, const std::vector<int64_t>& shape) {
  if (requested != Layout::detect) return requested;
  const bool last_is_channels = shape[3] == 1 || shape[3] == 3;
  const bool second_is_channels = shape[1] == 1 || shape[1] == 3;
  return last_is_channels && !second_is_channels ? Layout::nhwc : Layout::nchw;
}

at::Tensor to_unit_nchw(const at::Tensor& raw, Layout layout) {
  auto x = layout == Layout::nhwc ? raw.permute({0, 3, 1, 2}) : raw;
  if (x.scalar_type() == at::kByte) return x.to(at::kFloat).div_(255.0).contiguous();
  return x.contiguous();
}

void check_pixel_array(const fs::path& file, const std::string& name, at::ScalarType dtype,
                       const std::vector<int64_t>& shape) {
  if (dtype != at::kFloat && dtype != at::kByte)
    bad(file, fmt::format("{}: expected float32 in [0, 1] or uint8 pixels, got {}", name, c10::toString(dtype)));
  if (shape.size() != 4)
    bad(file, fmt::format("{}: expected N×C×H×W or N×H×W×C (4 dims), got shape [{}]", name, fmt::join(shape, ", ")));
  if (shape[0] == 0) bad(file, "the dataset is empty");
  for (size_t i = 1; i < 4; ++i)
    if (shape[i] == 0) bad(file, fmt::format("{}: shape [{}] has an empty axis", name, fmt::join(shape, ", ")));
}

at::Tensor checked_labels(const fs::path& file, const at::Tensor& labels, int64_t samples) {
  if (!at::isIntegralType(labels.scalar_type(), /*includeBool=*/false))
    bad(file, fmt::format("labels: expected integers (int64), got {}", c10::toString(labels.scalar_type())));
  if (labels.dim() != 1) bad(file, fmt::format("labels: expected 1 dim, got {}", labels.dim()));
  if (labels.size(0) != samples) bad(file, fmt::format("{} inputs but {} labels", samples, labels.size(0)));
  return labels.to(at::kLong).contiguous();
}

std::unique_ptr<Source> open_npz(const DatasetSpec& spec, uint64_t memory_budget) {
  const auto& file = spec.path;
  int err = 0;
  std::unique_ptr<zip_t, decltype(&zip_discard)> archive(zip_open(file.c_str(), ZIP_RDONLY, &err), zip_discard);
  if (!archive) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    bad(file, "not a readable .npz archive (" + msg + ")");
  }
  // Both headers are read and checked against each other and the machine's memory before any
  // of the data they declare is allocated.
  auto inputs = open_record(file, archive.get(), "inputs");
  auto labels = open_record(file, archive.get(), "labels");
  check_pixel_array(file, "inputs", inputs.header.dtype, inputs.header.shape);
  if (labels.header.shape.size() == 1 && inputs.header.shape[0] != labels.header.shape[0])
    bad(file, fmt::format("{} inputs but {} labels", inputs.header.shape[0], labels.header.shape[0]));
  check_budget(file, static_cast<uint64_t>(inputs.header.nbytes) + static_cast<uint64_t>(labels.header.nbytes),
               memory_budget, "the arrays");
  const auto x = read_record(file, inputs);
  return checked_source(file, x, read_record(file, labels), spec.layout);
}

std::unique_ptr<Source> open_pt(const DatasetSpec& spec, uint64_t memory_budget) {
  const auto& file = spec.path;
  // LibTorch's unpickler allocates what the archive declares and is no parser to hand a hostile
  // file: the model scan (archive limits, a static walk of the pickle's globals) goes first, and
  // the records must fit the same memory budget as an .npz's arrays.
  const auto scan = scan::scan_file(file);
  if (scan.unreadable) bad(file, "not a torch.save'd file (" + *scan.unreadable + ")");
  for (const auto& f : scan.findings)
    if (f.severity == Severity::critical || f.severity == Severity::high)
      bad(file, fmt::format("refused by the scan before loading: {} at {}: {}", f.id, f.location, f.message));
  check_budget(file, scan.uncompressed_bytes, memory_budget, "its records");
  std::ifstream in(file, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    bad(file, "not a torch.save'd file (" + one_line(e) + ")");
  }
  if (!value.isGenericDict()) bad(file, "expected a dict {'inputs': Tensor, 'labels': Tensor}");
  auto dict = value.toGenericDict();
  auto get = [&](const char* key) {
    auto it = dict.find(c10::IValue(std::string(key)));
    if (it == dict.end() || !it->value().isTensor()) bad(file, fmt::format("no tensor '{}' in the dict", key));
    auto t = it->value().toTensor();
    // A view may declare more elements than its storage holds (stride 0, as expand() makes):
    // a 1-element storage with a [10^9, 3, 32, 32] shape is a few bytes in the file and
    // terabytes once converted. Only what the file stores is accepted.
    const auto stored = t.has_storage() ? t.storage().nbytes() : 0;
    if (t.numel() > 0 && static_cast<uint64_t>(t.numel()) > stored / std::max<uint64_t>(t.element_size(), 1))
      bad(file, fmt::format("'{}' declares {} elements over a storage of {} bytes (an expanded view); save it "
                            "with .contiguous()",
                            key, t.numel(), stored));
    return t;
  };
  const auto x = get("inputs");
  check_pixel_array(file, "inputs", x.scalar_type(), x.sizes().vec());
  return checked_source(file, x, get("labels"), spec.layout);
}

std::unique_ptr<Source> open_npy_pixels(const fs::path& file, Layout layout,
                                        const std::function<NpyRows(const NpyHeader&)>& rows) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) bad(file, "cannot open the dataset");
  FileDescriptor owned{fd};
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) bad(file, "cannot read the file's size");
  uint64_t pos = 0;
  const ReadExactly read = [&](void* dst, uint64_t n) {
    if (!pread_exactly(fd, dst, n, pos)) return false;
    pos += n;
    return true;
  };
  auto h = read_npy_header(file, "inputs", read, size);
  check_pixel_array(file, "inputs", h.dtype, h.shape);
  auto r = rows(h);
  const auto resolved = resolve_layout(layout, h.shape);
  return std::make_unique<NpyFileSource>(file, owned.release(), std::move(h), std::move(r), resolved);
}

std::unique_ptr<Source> open_npy(const DatasetSpec& spec) {
  return open_npy_pixels(spec.path, spec.layout, [&](const NpyHeader& h) {
    const auto labels_file = spec.npy_labels();
    // Labels are 8 bytes a sample at most; anything bigger is not this dataset's labels.
    return NpyRows{0, checked_labels(labels_file, read_npy_file(labels_file, 8 * static_cast<uint64_t>(h.shape[0]) + 1),
                                     h.shape[0])};
  });
}

}  // namespace modelgate::engine::data
