#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace modelgate::engine::data {

/// The header of one NPY array (format v1–v3, little-endian, C order), checked against the
/// size of the record that holds it.
struct NpyHeader {
  at::ScalarType dtype = at::kFloat;
  int64_t item = 4;             ///< bytes per element
  std::vector<int64_t> shape;
  int64_t nbytes = 0;           ///< of the data
  uint64_t data_offset = 0;     ///< from the start of the record
};

/// Reads exactly n bytes into dst; false when the record ends first.
using ReadExactly = std::function<bool(void* dst, uint64_t n)>;

/// Reads exactly n bytes of file descriptor `fd` at `offset` into dst (pread: safe from several
/// threads); false when the file ends first or a read fails.
bool pread_exactly(int fd, void* dst, uint64_t n, uint64_t offset);

/// The same, or InputError "FILE: read failed at byte OFFSET ...".
void pread_or_fail(const std::filesystem::path& file, int fd, void* dst, uint64_t n, uint64_t offset);

/// Reads and checks an NPY header from the start of a record of `record_bytes` bytes: magic,
/// version, header length (at most 1 MiB), dtype (<f4 <f8 <i8 <i4 |u1), C order, a shape of
/// non-negative dimensions whose byte count does not overflow and equals what the record holds.
/// Throws InputError "FILE: 'NAME' ...".
NpyHeader read_npy_header(const std::filesystem::path& file, const std::string& name, const ReadExactly& read,
                          uint64_t record_bytes);

/// The header (format 1.0, padded to 64 bytes) of an array of `descr` ("<f4", "<i8") and `shape`.
std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape);

/// A whole .npy file read into a tensor (for small arrays such as labels).
at::Tensor read_npy_file(const std::filesystem::path& file, uint64_t max_bytes);

}  // namespace modelgate::engine::data
