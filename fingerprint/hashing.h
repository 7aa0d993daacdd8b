#pragma once
#include <ATen/core/Tensor.h>

#include <cstddef>
#include <map>
#include <string>

namespace modelgate::fingerprint {

/// Lower-case hex SHA-256 of a byte range.
std::string sha256_hex(const void* data, size_t size);

/// Lower-case hex SHA-256 of a file's contents; throws std::invalid_argument naming the path if unreadable.
std::string file_sha256(const std::string& path);

/// Lower-case hex SHA-256 of everything an open file descriptor holds, read with pread from
/// offset 0 (the descriptor's offset is left alone); throws std::invalid_argument naming `what`
/// on a read error.
std::string fd_sha256(int fd, const std::string& what);

/// Name of a dtype as the tensor digest spells it: numpy-style ("float32", "int64", "bool", ...),
/// so that a Python checker can recompute digests with hashlib alone.
std::string dtype_name(at::ScalarType type);

/// Digest of one tensor: SHA-256 over the header "<dtype_name>[d0,d1,...]\n" followed by the
/// tensor's contiguous CPU bytes (native little-endian). Throws std::invalid_argument for
/// tensors without plain strided storage (sparse, quantized, meta).
std::string tensor_sha256(const at::Tensor& t);

/// Root over named digests: SHA-256 over the lines "name:hexdigest\n", sorted bytewise by
/// name, as OpenSSF model-signing manifests do; independent of the order tensors were found in.
std::string root_sha256(const std::map<std::string, std::string>& digests);

}  // namespace modelgate::fingerprint
