// `modelgate encrypt` and `modelgate decrypt`: models at rest (engine/model_crypto.h). Neither
// scans nor loads the model: its bytes are only enciphered or deciphered.
#include "engine/commands.h"

#include "engine/model_crypto.h"
#include "engine/report/files.h"
#include "engine/report/summary.h"
#include "fingerprint/hashing.h"

#include <fmt/format.h>

#include <cstdint>

namespace modelgate::engine {

int cmd_encrypt(const CryptArgs& args) {
  const auto key = read_symmetric_key(args.key);
  check_output_path(args.out, "encrypted model", {args.model, args.key});
  encrypt_model_file(args.model, key, args.out);
  fmt::print("encrypted: {} → {} (aes-256-gcm, key id {}); the model was neither scanned nor loaded\n", args.model,
             shown_path(args.out), key.id());
  return 0;
}

int cmd_decrypt(const CryptArgs& args) {
  const auto key = read_symmetric_key(args.key);
  check_output_path(args.out, "decrypted model", {args.model, args.key});
  const auto d = decrypt_model_file(args.model, key, UINT64_MAX);
  write_atomically(args.out, d.plaintext.str(), 0600);
  const auto plain = d.plaintext.view();
  fmt::print("decrypted: {} → {} (mode 0600, {} bytes, sha256 {})\n", args.model, shown_path(args.out), plain.size(),
             fingerprint::sha256_hex(plain.data(), plain.size()));
  return 0;
}

}  // namespace modelgate::engine
