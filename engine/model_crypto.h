#pragma once
// Models encrypted at rest (the seed's ModelStorageEncryption): AES-256-GCM through OpenSSL.
//
// A key file (`modelgate keygen --symmetric`) is four lines of text, mode 0600:
//   modelgate-symmetric-key v1
//   algorithm aes-256-gcm
//   id 0123456789abcdef
//   key <base64 of 32 random bytes>
// The id is the first 16 hex digits of the SHA-256 of the key's bytes: it names the key
// without revealing it.
//
// An encrypted model (`modelgate encrypt`), integers little-endian:
//   bytes  0..7   magic "MGENC\r\n\x1a"
//   byte   8      format version, 1
//   bytes  9..16  key id (the 8 bytes the 16 hex digits spell)
//   bytes 17..28  nonce, 12 random bytes (RAND_bytes), new for every file
//   bytes 29..36  plaintext length n
//   then n bytes of ciphertext and the 16-byte GCM tag.
// The 37 header bytes are the GCM's additional authenticated data: a changed byte anywhere in
// the file fails decryption.
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace modelgate::engine {

inline constexpr size_t kSymmetricKeyBytes = 32;
inline constexpr size_t kEncryptedHeaderBytes = 37;
inline constexpr size_t kEncryptedTagBytes = 16;
inline constexpr const char* kModelCipher = "aes-256-gcm";

/// Bytes that must not outlive their use (a decrypted model): wiped when destroyed.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::string bytes) : bytes_(std::move(bytes)) {}
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();
  std::string_view view() const { return bytes_; }
  const std::string& str() const { return bytes_; }
  size_t size() const { return bytes_.size(); }

 private:
  void wipe();
  std::string bytes_;
};

/// An AES-256 key and where it came from. Its bytes are wiped when it is destroyed.
class SymmetricKey {
 public:
  /// A key of exactly 32 bytes; `file` is for messages and the report.
  SymmetricKey(const unsigned char* bytes, std::filesystem::path file);
  SymmetricKey(SymmetricKey&& other) noexcept;  ///< the moved-from key is wiped
  SymmetricKey(const SymmetricKey&) = delete;
  SymmetricKey& operator=(const SymmetricKey&) = delete;
  SymmetricKey& operator=(SymmetricKey&&) = delete;
  ~SymmetricKey();
  const unsigned char* bytes() const { return bytes_.data(); }
  /// 16 lower-case hex digits: the first 8 bytes of the key's SHA-256.
  const std::string& id() const { return id_; }
  const std::filesystem::path& file() const { return file_; }
  /// The key's bytes as base64, for the model worker's request (never written to a file).
  std::string to_base64() const;
  /// The inverse of to_base64(); throws InputError naming `what` for anything but 32 bytes.
  static SymmetricKey from_base64(const std::string& text, const std::filesystem::path& file);

 private:
  std::array<unsigned char, kSymmetricKeyBytes> bytes_{};
  std::string id_;
  std::filesystem::path file_;
};

/// Writes a new random key to `path` (mode 0600, created exclusively: an existing file is never
/// replaced) and returns its id. InputError naming the path when it exists or cannot be made.
std::string generate_symmetric_key(const std::filesystem::path& path);

/// Reads a key file. InputError naming the path when it is missing, accessible to group or
/// others (mode stricter than 0600 is fine), not a modelgate key file, or its id does not
/// match its key.
SymmetricKey read_symmetric_key(const std::filesystem::path& path);

/// The id of the key in `path` if it is a modelgate key file, without checking its mode;
/// nullopt for anything else (an Ed25519 PEM key, a folder, an unreadable file).
std::optional<std::string> symmetric_key_id(const std::filesystem::path& path);

/// What the header of an encrypted model says.
struct EncryptedHeader {
  int version = 1;
  std::string key_id;  ///< 16 hex digits
  uint64_t plaintext_bytes = 0;
};

/// True when `path` is a regular file that starts with the encrypted-model magic.
bool is_encrypted_model(const std::filesystem::path& path);

/// The header of an encrypted model in `bytes` (the first bytes of the file suffice), or
/// nullopt when they do not start with the magic. InputError naming `what` for a header that is
/// cut short or of another format version.
std::optional<EncryptedHeader> parse_encrypted_header(std::string_view bytes, const std::string& what);

/// `plaintext` encrypted with `key`, with a fresh random nonce: the whole encrypted file.
std::string encrypt_model_bytes(std::string_view plaintext, const SymmetricKey& key);

/// The plaintext of an encrypted file held in `file` (read as `what`). InputError, naming
/// `what`: not an encrypted model, cut short or longer than its header says, encrypted for
/// another key id (both ids named), or the tag does not verify ("wrong key or the file was
/// altered").
SecretBytes decrypt_model_bytes(std::string file, const SymmetricKey& key, const std::string& what);

/// A decrypted model file and the digest of the encrypted bytes it was decrypted from.
struct DecryptedModel {
  SecretBytes plaintext;
  std::string file_sha256;  ///< of the encrypted file as read
  std::string key_id;
};

/// Reads and decrypts `path` in memory (one buffer the size of the file, decrypted in place).
/// The header is checked against the file's size and the plaintext length against `max_bytes`
/// before anything is allocated. InputError as decrypt_model_bytes, and for a file over the limit.
DecryptedModel decrypt_model_file(const std::filesystem::path& path, const SymmetricKey& key, uint64_t max_bytes);

/// Encrypts the file `in` into `out` (temporary file + rename, mode 0644) without interpreting
/// it. InputError when `in` is missing or already an encrypted model; RunError when `out` cannot
/// be written.
void encrypt_model_file(const std::filesystem::path& in, const SymmetricKey& key, const std::filesystem::path& out);

}  // namespace modelgate::engine
