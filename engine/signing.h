#pragma once
// Ed25519 signatures for fingerprints and reports (OpenSSL). A signed document carries its
// signature inline: {"signature": {"algorithm": "ed25519", "publicKey": <base64 raw key>,
// "value": <base64>}} over the canonical form of the document without that field (keys
// sorted, no whitespace), so the file stays one readable JSON document.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace modelgate::engine {

/// Writes a new key pair: `prefix`.key (PKCS#8 PEM, mode 0600) and `prefix`.pub (SPKI PEM).
/// Refuses to replace existing files. Throws InputError naming the path.
void generate_keypair(const std::filesystem::path& prefix);

/// Checks that `key_path` holds a usable Ed25519 private key with mode 0600 or stricter, so a
/// run fails before any work when it could not sign its result. Throws InputError.
void check_signing_key(const std::filesystem::path& key_path);

/// The inline signature object for `document` (any "signature" field in it is not covered),
/// made with the private key at `key_path`; store it as the document's "signature" field.
/// Throws InputError if the key is unreadable, not Ed25519, or accessible to group/others.
nlohmann::json signature_for(const nlohmann::json& document, const std::filesystem::path& key_path);

/// Checks the inline signature against the public key at `pubkey_path`. Throws InputError
/// (naming `what`) if the document is unsigned, signed by another key, or altered.
void verify_document(const nlohmann::json& document, const std::filesystem::path& pubkey_path,
                     const std::string& what);

}  // namespace modelgate::engine
