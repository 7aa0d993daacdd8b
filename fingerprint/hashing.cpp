#include "fingerprint/hashing.h"

#include <ATen/ATen.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <cerrno>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace modelgate::fingerprint {
namespace {

// One incremental SHA-256; OpenSSL failures here mean a broken crypto library, not a user error.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    TORCH_INTERNAL_ASSERT(ctx_ != nullptr, "EVP_MD_CTX_new failed");
    TORCH_INTERNAL_ASSERT(EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1,
                          "EVP_DigestInit_ex(sha256) failed");
  }

  void update(const void* data, size_t size) {
    if (size == 0) return;
    TORCH_INTERNAL_ASSERT(EVP_DigestUpdate(ctx_.get(), data, size) == 1, "EVP_DigestUpdate failed");
  }

  void update(const std::string& s) { update(s.data(), s.size()); }

  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    TORCH_INTERNAL_ASSERT(EVP_DigestFinal_ex(ctx_.get(), digest.data(), &length) == 1,
                          "EVP_DigestFinal_ex failed");
    TORCH_INTERNAL_ASSERT(length == 32, "SHA-256 digest of ", length, " bytes");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(2 * length, '0');
    for (unsigned int i = 0; i < length; ++i) {
      out[2 * i] = kHex[digest[i] >> 4];
      out[2 * i + 1] = kHex[digest[i] & 0xf];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

}  // namespace

std::string sha256_hex(const void* data, size_t size) {
  Sha256 sha;
  sha.update(data, size);
  return sha.hex();
}

std::string file_sha256(const std::string& path) {
  // A directory opens as an ifstream on Linux and only fails on read; name it plainly instead.
  if (std::filesystem::is_directory(path)) {
    throw std::invalid_argument("cannot hash '" + path + "': it is a directory, expected a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot open '" + path + "' for hashing");
  Sha256 sha;
  // Models can be gigabytes: stream rather than read the whole file.
  std::array<char, 1 << 16> buffer{};
  while (in) {
    in.read(buffer.data(), buffer.size());
    sha.update(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw std::invalid_argument("read error while hashing '" + path + "'");
  return sha.hex();
}

std::string fd_sha256(int fd, const std::string& what) {
  Sha256 sha;
  std::array<char, 1 << 16> buffer{};
  for (off_t pos = 0;;) {
    const auto n = ::pread(fd, buffer.data(), buffer.size(), pos);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::invalid_argument("read error while hashing '" + what + "'");
    if (n == 0) break;
    sha.update(buffer.data(), static_cast<size_t>(n));
    pos += n;
  }
  return sha.hex();
}

std::string dtype_name(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kComplexFloat: return "complex64";
    case at::kComplexDouble: return "complex128";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return c10::toString(type);
  }
}

std::string tensor_sha256(const at::Tensor& t) {
  if (!t.defined()) throw std::invalid_argument("tensor_sha256: the tensor is undefined");
  if (t.layout() != at::kStrided || t.is_quantized() || t.is_meta()) {
    std::ostringstream msg;
    msg << "tensor_sha256: expected a dense strided tensor with data, got layout " << t.layout()
        << (t.is_quantized() ? " (quantized)" : "") << " on " << t.device();
    throw std::invalid_argument(msg.str());
  }
  // Conjugate and negative views keep their lazy bit through contiguous(); resolve them so the
  // bytes are the values the tensor reads as.
  const at::Tensor dense = t.resolve_conj().resolve_neg().to(at::kCPU).contiguous();
  std::string header = dtype_name(dense.scalar_type()) + "[";
  for (int64_t d = 0; d < dense.dim(); ++d) {
    if (d > 0) header += ",";
    header += std::to_string(dense.size(d));
  }
  header += "]\n";
  Sha256 sha;
  sha.update(header);
  sha.update(dense.data_ptr(), dense.nbytes());
  return sha.hex();
}

std::string root_sha256(const std::map<std::string, std::string>& digests) {
  // std::map orders std::string keys bytewise (char_traits compares as unsigned char), which
  // is the order Python's sorted() gives UTF-8 names.
  Sha256 sha;
  for (const auto& [name, digest] : digests) sha.update(name + ":" + digest + "\n");
  return sha.hex();
}

}  // namespace modelgate::fingerprint
