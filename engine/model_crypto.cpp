#include "engine/model_crypto.h"

#include "engine/errors.h"
#include "engine/report/files.h"
#include "fingerprint/hashing.h"
#include "fingerprint/record.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

namespace modelgate::engine {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kMagic("MGENC\r\n\x1a", 8);
constexpr unsigned char kFormatVersion = 1;
constexpr size_t kNonceBytes = 12;
constexpr size_t kNonceOffset = 17;
constexpr size_t kLengthOffset = 29;
constexpr size_t kMaxKeyFileBytes = 4096;
// EVP_*Update take an int length: large models go through in chunks.
constexpr size_t kChunk = 1ull << 30;
constexpr const char* kKeyFileHeader = "modelgate-symmetric-key v1";

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

std::string key_id_of(const unsigned char* bytes) {
  return fingerprint::sha256_hex(bytes, kSymmetricKeyBytes).substr(0, 16);
}

bool is_hex(std::string_view s) { return s.find_first_not_of("0123456789abcdef") == std::string_view::npos; }

// Reads a small file whole through an open descriptor; nullopt if it cannot be read or is too large.
std::optional<std::string> read_small(int fd) {
  std::string text(kMaxKeyFileBytes + 1, '\0');
  size_t got = 0;
  for (;;) {
    const auto n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got > kMaxKeyFileBytes) return std::nullopt;
  }
  text.resize(got);
  return text;
}

struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The lines of a key file as keygen writes them, or why it is not one.
struct ParsedKey {
  std::string id;
  std::vector<uint8_t> key;  // wiped by the caller
  std::string error;
};

ParsedKey parse_key_file(const std::string& text) {
  ParsedKey p;
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  const auto bad = "not a modelgate symmetric key file (expected the four lines 'modelgate keygen --symmetric' writes)";
  if (lines.size() != 4 || lines[0] != kKeyFileHeader) {
    p.error = bad;
    return p;
  }
  if (lines[1] != std::string("algorithm ") + kModelCipher) {
    p.error = fmt::format("a key for '{}'; modelgate encrypts models with {}", lines[1].substr(lines[1].find(' ') + 1), kModelCipher);
    return p;
  }
  if (lines[2].rfind("id ", 0) != 0 || lines[2].size() != 19 || !is_hex(lines[2].substr(3)) || lines[3].rfind("key ", 0) != 0) {
    p.error = bad;
    return p;
  }
  p.id = lines[2].substr(3);
  try {
    p.key = fingerprint::base64_decode(lines[3].substr(4));
  } catch (const std::invalid_argument&) {
    p.error = "its key is not valid base64";
    return p;
  }
  if (p.key.size() != kSymmetricKeyBytes) p.error = fmt::format("its key has {} bytes, not {}", p.key.size(), kSymmetricKeyBytes);
  return p;
}

void check_length(const EncryptedHeader& h, uint64_t size, const std::string& what) {
  constexpr uint64_t overhead = kEncryptedHeaderBytes + kEncryptedTagBytes;
  const bool short_file = size < overhead || h.plaintext_bytes > size - overhead;
  if (short_file)
    throw InputError(fmt::format("{}: the encrypted model is cut short: its header says {} bytes of model, the file has {} "
                                 "in all (header and tag take {})",
                                 what, h.plaintext_bytes, size, overhead));
  if (h.plaintext_bytes != size - overhead)
    throw InputError(fmt::format("{}: the encrypted model has {} bytes more than its header says: it is not as "
                                 "'modelgate encrypt' wrote it",
                                 what, size - overhead - h.plaintext_bytes));
}

void check_key_id(const EncryptedHeader& h, const SymmetricKey& key, const std::string& what) {
  if (h.key_id != key.id())
    throw InputError(fmt::format("{}: encrypted for key id {}, but {} holds key id {}", what, h.key_id,
                                 key.file().string(), key.id()));
}

// Runs AES-256-GCM over buf[header, header+n) in place, the header as additional data.
// Encrypting, the tag is written after the text; decrypting, it is checked (false: no match).
bool gcm_in_place(std::string& buf, const SymmetricKey& key, bool encrypt) {
  auto* data = reinterpret_cast<unsigned char*>(buf.data());
  const size_t n = buf.size() - kEncryptedHeaderBytes - kEncryptedTagBytes;
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  const auto init = encrypt ? EVP_EncryptInit_ex : EVP_DecryptInit_ex;
  const auto update = encrypt ? EVP_EncryptUpdate : EVP_DecryptUpdate;
  if (!ctx || init(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceBytes), nullptr) != 1 ||
      init(ctx.get(), nullptr, nullptr, key.bytes(), data + kNonceOffset) != 1 ||
      update(ctx.get(), nullptr, &len, data, static_cast<int>(kEncryptedHeaderBytes)) != 1)
    throw RunError("AES-256-GCM: cannot set up the cipher (OpenSSL)");
  for (size_t off = 0; off < n; off += kChunk) {
    unsigned char* p = data + kEncryptedHeaderBytes + off;
    if (update(ctx.get(), p, &len, p, static_cast<int>(std::min(kChunk, n - off))) != 1)
      throw RunError("AES-256-GCM: the cipher failed (OpenSSL)");
  }
  unsigned char* tag = data + kEncryptedHeaderBytes + n;
  if (encrypt) {
    if (EVP_EncryptFinal_ex(ctx.get(), tag, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kEncryptedTagBytes), tag) != 1)
      throw RunError("AES-256-GCM: cannot finish the encryption (OpenSSL)");
    return true;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kEncryptedTagBytes), tag) != 1)
    throw RunError("AES-256-GCM: cannot set the tag (OpenSSL)");
  return EVP_DecryptFinal_ex(ctx.get(), tag, &len) == 1;
}

// Decrypts a whole encrypted file held in `buf`, whose header is `h`, into its plaintext.
SecretBytes open_sealed(std::string buf, const EncryptedHeader& h, const SymmetricKey& key, const std::string& what) {
  check_length(h, buf.size(), what);
  check_key_id(h, key, what);
  if (!gcm_in_place(buf, key, false)) {
    OPENSSL_cleanse(buf.data(), buf.size());  // unauthenticated plaintext is never used
    throw InputError(what + ": cannot decrypt: wrong key or the file was altered");
  }
  buf.erase(0, kEncryptedHeaderBytes);
  buf.resize(h.plaintext_bytes);
  return SecretBytes(std::move(buf));
}

// Fills the header of `buf` (header space, then n bytes of plaintext, then tag space) and
// encrypts it in place.
void seal(std::string& buf, const SymmetricKey& key) {
  auto* data = reinterpret_cast<unsigned char*>(buf.data());
  const uint64_t n = buf.size() - kEncryptedHeaderBytes - kEncryptedTagBytes;
  std::memcpy(data, kMagic.data(), kMagic.size());
  data[8] = kFormatVersion;
  for (size_t i = 0; i < 8; ++i) data[9 + i] = static_cast<unsigned char>(std::stoul(key.id().substr(2 * i, 2), nullptr, 16));
  if (RAND_bytes(data + kNonceOffset, static_cast<int>(kNonceBytes)) != 1) throw RunError("cannot draw a random nonce (OpenSSL RAND_bytes)");
  for (size_t i = 0; i < 8; ++i) data[kLengthOffset + i] = static_cast<unsigned char>(n >> (8 * i));
  gcm_in_place(buf, key, true);
}

}  // namespace

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) { other.wipe(); }

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    wipe();
    bytes_ = std::move(other.bytes_);
    other.wipe();
  }
  return *this;
}

SecretBytes::~SecretBytes() { wipe(); }

void SecretBytes::wipe() {
  // The whole capacity: in-place decryption leaves stale bytes past the end.
  OPENSSL_cleanse(bytes_.data(), bytes_.capacity());
  bytes_.clear();
}

SymmetricKey::SymmetricKey(const unsigned char* bytes, fs::path file) : file_(std::move(file)) {
  std::memcpy(bytes_.data(), bytes, kSymmetricKeyBytes);
  id_ = key_id_of(bytes_.data());
}

SymmetricKey::SymmetricKey(SymmetricKey&& other) noexcept
    : bytes_(other.bytes_), id_(std::move(other.id_)), file_(std::move(other.file_)) {
  OPENSSL_cleanse(other.bytes_.data(), other.bytes_.size());
}

SymmetricKey::~SymmetricKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

std::string SymmetricKey::to_base64() const { return fingerprint::base64_encode(bytes_.data(), bytes_.size()); }

SymmetricKey SymmetricKey::from_base64(const std::string& text, const fs::path& file) {
  std::vector<uint8_t> raw;
  try {
    raw = fingerprint::base64_decode(text);
  } catch (const std::invalid_argument&) {
  }
  if (raw.size() != kSymmetricKeyBytes) throw InputError(file.string() + ": not a 32-byte AES-256 key");
  SymmetricKey key(raw.data(), file);
  OPENSSL_cleanse(raw.data(), raw.size());
  return key;
}

std::string generate_symmetric_key(const fs::path& path) {
  unsigned char raw[kSymmetricKeyBytes];
  if (RAND_bytes(raw, sizeof raw) != 1) throw RunError("cannot draw a random key (OpenSSL RAND_bytes)");
  const SymmetricKey key(raw, path);
  OPENSSL_cleanse(raw, sizeof raw);
  std::string text = fmt::format("{}\nalgorithm {}\nid {}\nkey {}\n", kKeyFileHeader, kModelCipher, key.id(), key.to_base64());
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  // O_EXCL: a key is never replaced, not even by a race with another keygen.
  const Fd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (out.fd < 0) {
    const int err = errno;
    OPENSSL_cleanse(text.data(), text.size());
    if (err == EEXIST) throw InputError(path.string() + ": already exists; refusing to replace a key");
    throw InputError(fmt::format("{}: cannot create the key file: {}", path.string(), std::strerror(err)));
  }
  size_t done = 0;
  bool ok = ::fchmod(out.fd, 0600) == 0;
  while (ok && done < text.size()) {
    const auto n = ::write(out.fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(out.fd) == 0;
  const int err = errno;
  OPENSSL_cleanse(text.data(), text.size());
  if (!ok) {
    ::unlink(path.c_str());
    throw RunError(fmt::format("{}: cannot write the key file: {}", path.string(), std::strerror(err)));
  }
  return key.id();
}

SymmetricKey read_symmetric_key(const fs::path& path) {
  const Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (in.fd < 0)
    throw InputError(errno == ENOENT ? path.string() + ": key file not found"
                                     : fmt::format("{}: cannot open the key file: {}", path.string(), std::strerror(errno)));
  struct stat st{};
  if (::fstat(in.fd, &st) != 0 || !S_ISREG(st.st_mode)) throw InputError(path.string() + ": the key is not a regular file");
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    throw InputError(fmt::format("{}: key file is accessible to group or others (mode {:o}); run chmod 600 {}", path.string(),
                                 st.st_mode & 0777, path.string()));
  auto text = read_small(in.fd);
  if (!text) throw InputError(path.string() + ": not a modelgate symmetric key file (unreadable or over 4 KiB)");
  auto parsed = parse_key_file(*text);
  OPENSSL_cleanse(text->data(), text->size());
  auto wipe = [&] { OPENSSL_cleanse(parsed.key.data(), parsed.key.size()); };
  if (!parsed.error.empty()) {
    wipe();
    throw InputError(path.string() + ": " + parsed.error);
  }
  SymmetricKey key(parsed.key.data(), path);
  wipe();
  if (key.id() != parsed.id)
    throw InputError(fmt::format("{}: corrupt key file: it names key id {}, its key has id {}", path.string(), parsed.id, key.id()));
  return key;
}

std::optional<std::string> symmetric_key_id(const fs::path& path) {
  const Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  struct stat st{};
  if (in.fd < 0 || ::fstat(in.fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  auto text = read_small(in.fd);
  if (!text) return std::nullopt;
  auto parsed = parse_key_file(*text);
  OPENSSL_cleanse(text->data(), text->size());
  OPENSSL_cleanse(parsed.key.data(), parsed.key.size());
  if (!parsed.error.empty()) return std::nullopt;
  return parsed.id;
}

bool is_encrypted_model(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  in.read(magic, sizeof magic);
  return in.gcount() == static_cast<std::streamsize>(sizeof magic) && std::string_view(magic, sizeof magic) == kMagic;
}

std::optional<EncryptedHeader> parse_encrypted_header(std::string_view bytes, const std::string& what) {
  if (bytes.size() < kMagic.size() || bytes.substr(0, kMagic.size()) != kMagic) return std::nullopt;
  if (bytes.size() < kEncryptedHeaderBytes)
    throw InputError(fmt::format("{}: an encrypted model cut short: {} bytes, its header alone has {}", what, bytes.size(),
                                 kEncryptedHeaderBytes));
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  EncryptedHeader h;
  h.version = b[8];
  if (h.version != kFormatVersion)
    throw InputError(fmt::format("{}: encrypted model format version {}; this modelgate reads version {}", what, h.version,
                                 kFormatVersion));
  for (size_t i = 0; i < 8; ++i) h.key_id += fmt::format("{:02x}", b[9 + i]);
  for (size_t i = 0; i < 8; ++i) h.plaintext_bytes |= static_cast<uint64_t>(b[kLengthOffset + i]) << (8 * i);
  return h;
}

std::string encrypt_model_bytes(std::string_view plaintext, const SymmetricKey& key) {
  std::string buf;
  buf.reserve(kEncryptedHeaderBytes + plaintext.size() + kEncryptedTagBytes);
  buf.append(kEncryptedHeaderBytes, '\0').append(plaintext).append(kEncryptedTagBytes, '\0');
  seal(buf, key);
  return buf;
}

SecretBytes decrypt_model_bytes(std::string file, const SymmetricKey& key, const std::string& what) {
  const auto h = parse_encrypted_header(file, what);
  if (!h) throw InputError(what + ": not an encrypted model (no header from 'modelgate encrypt')");
  return open_sealed(std::move(file), *h, key, what);
}

DecryptedModel decrypt_model_file(const fs::path& path, const SymmetricKey& key, uint64_t max_bytes) {
  const auto what = path.string();
  const Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (in.fd < 0) throw InputError(fmt::format("{}: cannot open the encrypted model: {}", what, std::strerror(errno)));
  struct stat st{};
  if (::fstat(in.fd, &st) != 0 || !S_ISREG(st.st_mode)) throw InputError(what + ": the encrypted model is not a regular file");
  const auto size = static_cast<uint64_t>(st.st_size);
  auto read_at = [&](char* dst, uint64_t n, uint64_t off) {
    uint64_t got = 0;
    while (got < n) {
      const auto r = ::pread(in.fd, dst + got, n - got, static_cast<off_t>(off + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw InputError(fmt::format("{}: cannot read the encrypted model: {}", what, std::strerror(errno)));
      if (r == 0) break;
      got += static_cast<uint64_t>(r);
    }
    return got;
  };
  // The header, checked against the file's real size and the limit before the big allocation.
  char head[kEncryptedHeaderBytes];
  const auto head_got = read_at(head, sizeof head, 0);
  const auto h = parse_encrypted_header(std::string_view(head, head_got), what);
  if (!h) throw InputError(what + ": not an encrypted model (no header from 'modelgate encrypt')");
  check_length(*h, size, what);
  check_key_id(*h, key, what);
  if (h->plaintext_bytes > max_bytes)
    throw InputError(fmt::format("{}: the encrypted model holds {} bytes, more than the scan limit totalBytes ({})", what,
                                 h->plaintext_bytes, max_bytes));
  std::string buf(size, '\0');
  if (read_at(buf.data(), size, 0) != size) throw InputError(what + ": the encrypted model changed size while it was read");
  DecryptedModel out;
  out.file_sha256 = fingerprint::sha256_hex(buf.data(), buf.size());
  out.key_id = h->key_id;
  out.plaintext = open_sealed(std::move(buf), *h, key, what);
  return out;
}

void encrypt_model_file(const fs::path& in_path, const SymmetricKey& key, const fs::path& out) {
  const auto what = in_path.string();
  const Fd in(::open(in_path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (in.fd < 0)
    throw InputError(errno == ENOENT ? what + ": model file not found"
                                     : fmt::format("{}: cannot open the model: {}", what, std::strerror(errno)));
  struct stat st{};
  if (::fstat(in.fd, &st) != 0 || !S_ISREG(st.st_mode)) throw InputError(what + ": not a regular file");
  const auto n = static_cast<uint64_t>(st.st_size);
  if (n == 0) throw InputError(what + ": model file is empty");
  // Read straight into place between the header and the tag: one buffer, encrypted in place.
  std::string buf(kEncryptedHeaderBytes + n + kEncryptedTagBytes, '\0');
  uint64_t got = 0;
  while (got < n) {
    const auto r = ::read(in.fd, buf.data() + kEncryptedHeaderBytes + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw InputError(fmt::format("{}: cannot read the model: {}", what, std::strerror(errno)));
    if (r == 0) break;
    got += static_cast<uint64_t>(r);
  }
  if (got != n) throw InputError(what + ": the model changed size while it was read");
  if (std::string_view(buf).substr(kEncryptedHeaderBytes, kMagic.size()) == kMagic)
    throw InputError(what + ": already an encrypted model; refusing to encrypt it twice");
  seal(buf, key);
  write_atomically(out, buf, 0644);
}

}  // namespace modelgate::engine
