#include "engine/dataset.h"

#include "engine/errors.h"
#include "engine/scan/scan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/serialize.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <regex>

namespace modelgate::engine {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void bad(const fs::path& file, const std::string& what) {
  throw InputError(fmt::format("{}: {}", file.string(), what));
}

// One array of a .npz archive: the NPY format (v1–v3), little-endian, C order.
// The dimensions of an NPY header's shape tuple, e.g. "450, 1, 8, 8" or "450,": each a plain
// non-negative integer of at most 18 digits, so it fits int64 and no sign is dropped.
std::vector<int64_t> parse_npy_shape(const fs::path& file, const std::string& name, const std::string& dims) {
  std::vector<int64_t> shape;
  size_t start = 0;
  while (start <= dims.size()) {
    const size_t comma = std::min(dims.find(',', start), dims.size());
    std::string d = dims.substr(start, comma - start);
    d.erase(0, d.find_first_not_of(" \t"));
    d.erase(d.find_last_not_of(" \t") + 1);
    start = comma + 1;
    if (d.empty()) {
      if (comma == dims.size()) break;  // the trailing comma of a 1-tuple, or "()"
      bad(file, fmt::format("'{}' has an empty dimension in its shape ({})", name, dims));
    }
    if (d.size() > 18 || d.find_first_not_of("0123456789") != std::string::npos)
      bad(file, fmt::format("'{}' has shape ({}): dimension '{}' is not a non-negative integer below 10^18", name, dims,
                            d));
    shape.push_back(std::stoll(d));
  }
  return shape;
}

// Deflate cannot expand data by more than about 1032:1; a directory entry that claims more is a lie.
constexpr double kMaxDeflateRatio = 1032;
// NPY headers are a short Python dict literal.
constexpr uint32_t kMaxNpyHeader = 1 << 20;

// An array of a .npz archive whose header has been read and checked against the record's size;
// its data is still unread, so nothing of the declared size has been allocated.
struct NpyArray {
  std::string name;
  std::vector<int64_t> shape;
  at::ScalarType dtype = at::kFloat;
  int64_t nbytes = 0;
  std::unique_ptr<zip_file_t, decltype(&zip_fclose)> stream{nullptr, zip_fclose};
};

// Reads exactly `n` bytes of a record into `dst`; false if it ends first.
bool read_exactly(zip_file_t* f, void* dst, uint64_t n) {
  auto* out = static_cast<char*>(dst);
  while (n > 0) {
    const auto got = zip_fread(f, out, n);
    if (got <= 0) return false;
    out += got;
    n -= static_cast<uint64_t>(got);
  }
  return true;
}

// One array of a .npz archive: the NPY format (v1–v3), little-endian, C order.
NpyArray open_npy(const fs::path& file, zip_t* archive, const std::string& name) {
  const std::string entry = name + ".npy";
  zip_stat_t st;
  if (zip_stat(archive, entry.c_str(), 0, &st) != 0) bad(file, "no array '" + name + "' in the archive");
  if (st.comp_method != ZIP_CM_STORE && static_cast<double>(st.size) > kMaxDeflateRatio * static_cast<double>(st.comp_size) + 4096)
    bad(file, fmt::format("'{}': the archive's directory claims {} bytes from {} compressed, more than compression can "
                          "give: the archive is corrupt or crafted",
                          name, st.size, st.comp_size));
  NpyArray a;
  a.name = name;
  a.stream.reset(zip_fopen(archive, entry.c_str(), 0));
  if (!a.stream) bad(file, "cannot open array '" + name + "': " + zip_strerror(archive));
  char magic[12];
  if (st.size < 10 || !read_exactly(a.stream.get(), magic, 10) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    bad(file, "'" + name + "' is not an NPY array");
  const int major = static_cast<unsigned char>(magic[6]);
  uint32_t header_len;
  uint64_t offset;
  if (major == 1) {
    header_len = static_cast<unsigned char>(magic[8]) | (static_cast<unsigned char>(magic[9]) << 8);
    offset = 10;
  } else {
    if (st.size < 12 || !read_exactly(a.stream.get(), magic + 10, 2)) bad(file, "'" + name + "' is truncated");
    std::memcpy(&header_len, magic + 8, 4);
    offset = 12;
  }
  if (header_len > kMaxNpyHeader) bad(file, fmt::format("'{}' has an NPY header of {} bytes (at most {})", name, header_len, kMaxNpyHeader));
  if (offset + header_len > st.size) bad(file, "'" + name + "' has a truncated header");
  std::string header(header_len, '\0');
  if (!read_exactly(a.stream.get(), header.data(), header_len)) bad(file, "'" + name + "' has a truncated header");
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'"))) bad(file, "'" + name + "' has no dtype");
  const std::string descr = m[1];
  if (std::regex_search(header, std::regex("'fortran_order':\\s*True")))
    bad(file, "'" + name + "' is stored in Fortran order; save it C-contiguous (np.ascontiguousarray)");
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) bad(file, "'" + name + "' has no shape");
  a.shape = parse_npy_shape(file, name, m[1]);

  size_t item;
  if (descr == "<f4") { a.dtype = at::kFloat; item = 4; }
  else if (descr == "<f8") { a.dtype = at::kDouble; item = 8; }
  else if (descr == "<i8") { a.dtype = at::kLong; item = 8; }
  else if (descr == "<i4") { a.dtype = at::kInt; item = 4; }
  else if (descr == "|u1") { a.dtype = at::kByte; item = 1; }
  else bad(file, fmt::format("'{}' has dtype '{}', which modelgate does not read", name, descr));
  int64_t count = 1;
  for (auto d : a.shape)
    if (__builtin_mul_overflow(count, d, &count))
      bad(file, fmt::format("'{}' has shape [{}], whose element count overflows", name, fmt::join(a.shape, ", ")));
  if (__builtin_mul_overflow(count, static_cast<int64_t>(item), &a.nbytes))
    bad(file, fmt::format("'{}' has shape [{}], whose size in bytes overflows", name, fmt::join(a.shape, ", ")));
  const uint64_t data_bytes = st.size - offset - header_len;
  if (data_bytes != static_cast<uint64_t>(a.nbytes))
    bad(file, fmt::format("'{}' holds {} bytes of data, expected {} for shape [{}]", name, data_bytes, a.nbytes,
                          fmt::join(a.shape, ", ")));
  return a;
}

// The data of an opened array, read straight into its tensor (one copy of it in memory).
at::Tensor read_npy_data(const fs::path& file, NpyArray& a) {
  auto t = at::empty(a.shape, at::TensorOptions().dtype(a.dtype));
  if (!read_exactly(a.stream.get(), t.data_ptr(), static_cast<uint64_t>(a.nbytes)))
    bad(file, "array '" + a.name + "' is truncated or corrupt");
  char extra;
  if (zip_fread(a.stream.get(), &extra, 1) != 0) bad(file, "array '" + a.name + "' holds more data than its header says");
  return t;
}

uint64_t memory_budget() {
  const auto pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 2 : (4ull << 30);
}

std::pair<at::Tensor, at::Tensor> load_npz(const fs::path& file) {
  int err = 0;
  std::unique_ptr<zip_t, decltype(&zip_discard)> archive(zip_open(file.c_str(), ZIP_RDONLY, &err),
                                                         zip_discard);
  if (!archive) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    bad(file, "not a readable .npz archive (" + msg + ")");
  }
  // Both headers are read and checked against each other and the machine's memory before any
  // of the data they declare is allocated.
  auto inputs = open_npy(file, archive.get(), "inputs");
  auto labels = open_npy(file, archive.get(), "labels");
  if (inputs.shape.size() == 4 && labels.shape.size() == 1 && inputs.shape[0] != labels.shape[0])
    bad(file, fmt::format("{} inputs but {} labels", inputs.shape[0], labels.shape[0]));
  const uint64_t need = static_cast<uint64_t>(inputs.nbytes) + static_cast<uint64_t>(labels.nbytes);
  if (need > memory_budget())
    bad(file, fmt::format("the arrays take {:.1f} GiB, more than half of this machine's memory ({:.1f} GiB)",
                          static_cast<double>(need) / (1ull << 30), 2.0 * static_cast<double>(memory_budget()) / (1ull << 30)));
  return {read_npy_data(file, inputs), read_npy_data(file, labels)};
}

std::pair<at::Tensor, at::Tensor> load_pt(const fs::path& file) {
  // LibTorch's unpickler allocates what the archive declares and is no parser to hand a hostile
  // file: the model scan (archive limits, a static walk of the pickle's globals) goes first, and
  // the records must fit the same memory budget as an .npz's arrays.
  const auto scan = scan::scan_file(file);
  if (scan.unreadable) bad(file, "not a torch.save'd file (" + *scan.unreadable + ")");
  for (const auto& f : scan.findings)
    if (f.severity == Severity::critical || f.severity == Severity::high)
      bad(file, fmt::format("refused by the scan before loading: {} at {}: {}", f.id, f.location, f.message));
  if (scan.uncompressed_bytes > memory_budget())
    bad(file, fmt::format("its records take {:.1f} GiB, more than half of this machine's memory ({:.1f} GiB)",
                          static_cast<double>(scan.uncompressed_bytes) / (1ull << 30),
                          2.0 * static_cast<double>(memory_budget()) / (1ull << 30)));
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
    return it->value().toTensor();
  };
  return {get("inputs"), get("labels")};
}

}  // namespace

Dataset load_dataset(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) bad(path, "dataset not found or not a regular file");
  const auto ext = path.extension().string();
  std::pair<at::Tensor, at::Tensor> arrays;
  if (ext == ".npz") arrays = load_npz(path);
  else if (ext == ".pt" || ext == ".pth") arrays = load_pt(path);
  else bad(path, "unknown dataset format '" + ext + "' (expected .npz or .pt)");
  auto [inputs, labels] = arrays;

  if (inputs.scalar_type() != at::kFloat)
    bad(path, fmt::format("inputs: expected float32, got {}", c10::toString(inputs.scalar_type())));
  if (inputs.dim() != 4)
    bad(path, fmt::format("inputs: expected N×C×H×W (4 dims), got shape [{}]", fmt::join(inputs.sizes(), ", ")));
  if (!at::isIntegralType(labels.scalar_type(), /*includeBool=*/false))
    bad(path, fmt::format("labels: expected integers (int64), got {}", c10::toString(labels.scalar_type())));
  if (labels.dim() != 1) bad(path, fmt::format("labels: expected 1 dim, got {}", labels.dim()));
  if (inputs.size(0) != labels.size(0))
    bad(path, fmt::format("{} inputs but {} labels", inputs.size(0), labels.size(0)));
  if (inputs.size(0) == 0) bad(path, "the dataset is empty");
  if (!at::isfinite(inputs).all().item<bool>()) bad(path, "inputs contain NaN or infinite values");
  const double lo = inputs.min().item<double>(), hi = inputs.max().item<double>();
  if (lo < 0 || hi > 1)
    bad(path, fmt::format("inputs: values must lie in [0, 1], found [{}, {}]", lo, hi));
  if (labels.min().item<int64_t>() < 0) bad(path, "labels: negative class index");
  return Dataset{path, inputs.contiguous(), labels.to(at::kLong).contiguous()};
}

void check_labels(const Dataset& data, int64_t num_classes, const std::string& model_path) {
  const auto top = data.labels.max().item<int64_t>();
  if (top >= num_classes)
    bad(data.path, fmt::format("labels: class {} is outside the {} classes of {}", top, num_classes, model_path));
}

}  // namespace modelgate::engine
