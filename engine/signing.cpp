#include "engine/signing.h"

#include "engine/errors.h"
#include "engine/report/files.h"
#include "fingerprint/record.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <memory>
#include <vector>

namespace modelgate::engine {
namespace fs = std::filesystem;
namespace {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string base64(const unsigned char* data, size_t n) { return fingerprint::base64_encode(data, n); }

std::vector<uint8_t> unbase64(const std::string& s, const std::string& what) {
  try {
    return fingerprint::base64_decode(s);
  } catch (const std::invalid_argument&) {
    throw InputError(what + ": signature is not valid base64");
  }
}

// The bytes a signature covers: the document without its signature, keys sorted, compact.
std::string canonical(const nlohmann::json& document) {
  nlohmann::json body = document;  // nlohmann::json keeps its keys sorted
  body.erase("signature");
  return body.dump();
}

Key read_key(const fs::path& path, bool private_key) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError(path.string() + ": key file not found");
  if (private_key) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) throw InputError(path.string() + ": cannot stat key file");
    if (st.st_mode & (S_IRWXG | S_IRWXO))
      throw InputError(fmt::format("{}: private key is accessible to group or others (mode {:o}); run chmod 600 {}",
                                   path.string(), st.st_mode & 0777, path.string()));
  }
  Bio bio(BIO_new_file(path.c_str(), "r"), BIO_free);
  if (!bio) throw InputError(path.string() + ": cannot open key file");
  Key key(private_key ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                      : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr),
          EVP_PKEY_free);
  if (!key) throw InputError(fmt::format("{}: not a PEM {} key", path.string(), private_key ? "private" : "public"));
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) throw InputError(path.string() + ": not an Ed25519 key");
  return key;
}

std::string raw_public_key(EVP_PKEY* key) {
  unsigned char raw[32];
  size_t len = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1) throw RunError("cannot read the Ed25519 public key");
  return base64(raw, len);
}

std::string pem(EVP_PKEY* key, bool private_key) {
  Bio bio(BIO_new(BIO_s_mem()), BIO_free);
  const int ok = private_key ? PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)
                             : PEM_write_bio_PUBKEY(bio.get(), key);
  if (ok != 1) throw RunError("cannot encode the key as PEM");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

void generate_keypair(const fs::path& prefix) {
  const fs::path priv = prefix.string() + ".key", pub = prefix.string() + ".pub";
  for (const auto& p : {priv, pub})
    if (fs::exists(p)) throw InputError(p.string() + ": already exists; refusing to replace a key");
  EVP_PKEY* raw = nullptr;
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr),
                                                                  EVP_PKEY_CTX_free);
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1)
    throw RunError("Ed25519 key generation failed");
  Key key(raw, EVP_PKEY_free);
  write_atomically(priv, pem(key.get(), true), 0600);
  write_atomically(pub, pem(key.get(), false), 0644);
}

void check_signing_key(const fs::path& key_path) { read_key(key_path, true); }

nlohmann::json signature_for(const nlohmann::json& document, const fs::path& key_path) {
  const Key key = read_key(key_path, true);
  const std::string message = canonical(document);
  MdCtx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char sig[64];
  size_t len = sizeof sig;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1)
    throw RunError(key_path.string() + ": signing failed");
  return {{"algorithm", "ed25519"}, {"publicKey", raw_public_key(key.get())}, {"value", base64(sig, len)}};
}

void verify_document(const nlohmann::json& document, const fs::path& pubkey_path, const std::string& what) {
  const Key key = read_key(pubkey_path, false);
  if (!document.is_object() || !document.contains("signature") || !document["signature"].is_object())
    throw InputError(what + ": not signed (no \"signature\" field); --verify requires a signed file");
  const auto& s = document["signature"];
  if (s.value("algorithm", "") != "ed25519" || !s.contains("value") || !s["value"].is_string())
    throw InputError(what + ": signature is not an Ed25519 signature");
  if (s.value("publicKey", "") != raw_public_key(key.get()))
    throw InputError(fmt::format("{}: signed by another key than {}", what, pubkey_path.string()));
  const auto sig = unbase64(s["value"].get<std::string>(), what);
  const std::string message = canonical(document);
  MdCtx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1)
    throw InputError(what + ": signature does not match the content: the file was altered after signing");
}

}  // namespace modelgate::engine
