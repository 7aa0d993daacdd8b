#include "engine/data/npy.h"

#include "engine/errors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <fstream>

#include <unistd.h>

namespace modelgate::engine::data {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void bad(const fs::path& file, const std::string& what) {
  throw InputError(fmt::format("{}: {}", file.string(), what));
}

// NPY headers are a short Python dict literal.
constexpr uint32_t kMaxNpyHeader = 1 << 20;

// The text after "'key':" (and any blanks) in an NPY header's dict literal, or npos. A plain
// scan: std::regex recurses once per character and overflows the stack on a long header.
size_t dict_value(const std::string& header, const std::string& key) {
  auto at = header.find("'" + key + "'");
  if (at == std::string::npos) return at;
  at += key.size() + 2;
  at = header.find_first_not_of(" \t", at);
  if (at == std::string::npos || header[at] != ':') return std::string::npos;
  return header.find_first_not_of(" \t", at + 1);
}

// The dimensions of an NPY header's shape tuple, e.g. "450, 1, 8, 8" or "450,": each a plain
// non-negative integer of at most 18 digits, so it fits int64 and no sign is dropped.
std::vector<int64_t> parse_shape(const fs::path& file, const std::string& name, const std::string& dims) {
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

}  // namespace

NpyHeader read_npy_header(const fs::path& file, const std::string& name, const ReadExactly& read,
                          uint64_t record_bytes) {
  char magic[12];
  if (record_bytes < 10 || !read(magic, 10) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    bad(file, "'" + name + "' is not an NPY array");
  const int major = static_cast<unsigned char>(magic[6]);
  uint32_t header_len;
  NpyHeader h;
  if (major == 1) {
    header_len = static_cast<unsigned char>(magic[8]) | (static_cast<unsigned char>(magic[9]) << 8);
    h.data_offset = 10;
  } else {
    if (record_bytes < 12 || !read(magic + 10, 2)) bad(file, "'" + name + "' is truncated");
    std::memcpy(&header_len, magic + 8, 4);
    h.data_offset = 12;
  }
  if (header_len > kMaxNpyHeader)
    bad(file, fmt::format("'{}' has an NPY header of {} bytes (at most {})", name, header_len, kMaxNpyHeader));
  if (h.data_offset + header_len > record_bytes) bad(file, "'" + name + "' has a truncated header");
  std::string header(header_len, '\0');
  if (!read(header.data(), header_len)) bad(file, "'" + name + "' has a truncated header");
  h.data_offset += header_len;
  const auto descr_at = dict_value(header, "descr");
  const auto descr_end = descr_at == std::string::npos || header[descr_at] != '\''
                             ? std::string::npos
                             : header.find('\'', descr_at + 1);
  if (descr_end == std::string::npos || descr_end == descr_at + 1) bad(file, "'" + name + "' has no dtype");
  const std::string descr = header.substr(descr_at + 1, descr_end - descr_at - 1);
  const auto order_at = dict_value(header, "fortran_order");
  if (order_at != std::string::npos && header.compare(order_at, 4, "True") == 0)
    bad(file, "'" + name + "' is stored in Fortran order; save it C-contiguous (np.ascontiguousarray)");
  const auto shape_at = dict_value(header, "shape");
  const auto shape_end =
      shape_at == std::string::npos || header[shape_at] != '(' ? std::string::npos : header.find(')', shape_at);
  if (shape_end == std::string::npos) bad(file, "'" + name + "' has no shape");
  h.shape = parse_shape(file, name, header.substr(shape_at + 1, shape_end - shape_at - 1));

  if (descr == "<f4") { h.dtype = at::kFloat; h.item = 4; }
  else if (descr == "<f8") { h.dtype = at::kDouble; h.item = 8; }
  else if (descr == "<i8") { h.dtype = at::kLong; h.item = 8; }
  else if (descr == "<i4") { h.dtype = at::kInt; h.item = 4; }
  else if (descr == "|u1") { h.dtype = at::kByte; h.item = 1; }
  else bad(file, fmt::format("'{}' has dtype '{}', which modelgate does not read", name, descr));
  int64_t count = 1;
  for (auto d : h.shape)
    if (__builtin_mul_overflow(count, d, &count))
      bad(file, fmt::format("'{}' has shape [{}], whose element count overflows", name, fmt::join(h.shape, ", ")));
  if (__builtin_mul_overflow(count, h.item, &h.nbytes))
    bad(file, fmt::format("'{}' has shape [{}], whose size in bytes overflows", name, fmt::join(h.shape, ", ")));
  const uint64_t data_bytes = record_bytes - h.data_offset;
  if (data_bytes != static_cast<uint64_t>(h.nbytes))
    bad(file, fmt::format("'{}' holds {} bytes of data, expected {} for shape [{}]", name, data_bytes, h.nbytes,
                          fmt::join(h.shape, ", ")));
  return h;
}

bool pread_exactly(int fd, void* dst, uint64_t n, uint64_t offset) {
  auto* out = static_cast<char*>(dst);
  while (n > 0) {
    const auto got = ::pread(fd, out, n, static_cast<off_t>(offset));
    if (got <= 0) return false;
    out += got;
    n -= static_cast<uint64_t>(got);
    offset += static_cast<uint64_t>(got);
  }
  return true;
}

void pread_or_fail(const fs::path& file, int fd, void* dst, uint64_t n, uint64_t offset) {
  if (!pread_exactly(fd, dst, n, offset))
    bad(file, fmt::format("read failed at byte {} (the file shrank or is unreadable)", offset));
}

std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape) {
  std::string dims;
  for (auto d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);
  else if (shape.size() == 1) dims.resize(dims.size() - 1);  // "(5,)"
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  const size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  std::string h("\x93NUMPY\x01\x00", 8);
  h += static_cast<char>(dict.size() & 0xff);
  h += static_cast<char>(dict.size() >> 8);
  return h + dict;
}

at::Tensor read_npy_file(const fs::path& file, uint64_t max_bytes) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec || !fs::is_regular_file(file, ec)) bad(file, "not found or not a regular file");
  std::ifstream in(file, std::ios::binary);
  const ReadExactly read = [&](void* dst, uint64_t n) {
    return static_cast<bool>(in.read(static_cast<char*>(dst), static_cast<std::streamsize>(n)));
  };
  const auto h = read_npy_header(file, file.filename().string(), read, size);
  if (static_cast<uint64_t>(h.nbytes) > max_bytes)
    bad(file, fmt::format("holds {} bytes, more than the {} this array may take", h.nbytes, max_bytes));
  auto t = at::empty(h.shape, at::TensorOptions().dtype(h.dtype));
  if (!read(t.data_ptr(), static_cast<uint64_t>(h.nbytes))) bad(file, "is truncated");
  return t;
}

}  // namespace modelgate::engine::data
