#include "engine/model_keys.h"

#include "engine/errors.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

namespace modelgate::engine {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxFolderEntries = 10000;

std::optional<EncryptedHeader> header_of(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  std::string head(kEncryptedHeaderBytes, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  return parse_encrypted_header(head, path.string());
}

}  // namespace

std::optional<fs::path> find_key_file(const fs::path& folder, const std::string& id, size_t* tried) {
  std::vector<fs::path> candidates;
  std::error_code ec;
  for (auto it = fs::directory_iterator(folder, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::directory_iterator() && candidates.size() < kMaxFolderEntries; it.increment(ec))
    if (it->path().extension() == ".key") candidates.push_back(it->path());
  std::sort(candidates.begin(), candidates.end());
  size_t seen = 0;
  std::optional<fs::path> found;
  for (const auto& c : candidates) {
    const auto key_id = symmetric_key_id(c);  // Ed25519 signing keys (.key too) are not modelgate key files
    if (!key_id) continue;
    ++seen;
    if (*key_id == id) {
      found = c;
      break;
    }
  }
  if (tried) *tried = seen;
  return found;
}

std::vector<std::shared_ptr<const SymmetricKey>> model_keys(const JobConfig& job) {
  std::vector<std::shared_ptr<const SymmetricKey>> keys;
  for (size_t i = 0; i < job.models.size(); ++i) {
    const auto& m = job.models[i];
    const auto what = fmt::format("{}: spec.models[{}] '{}'", job.file.string(), i, m.name);
    const auto h = header_of(m.path);  // InputError for a header cut short or of another version
    if (!h) {
      if (!m.key.empty())
        throw InputError(fmt::format("{}: a key ({}) is given, but {} is not an encrypted model", what, m.key.string(),
                                     m.path.string()));
      keys.push_back(nullptr);
      continue;
    }
    fs::path key_file = m.key;
    if (key_file.empty()) {
      const auto& enc = job.storage_encryption;
      if (!enc)
        throw InputError(fmt::format("{}: {} is an encrypted model (key id {}) and has no key: give the entry a key "
                                     "(spec.models[{}].key) or add a ModelStorageEncryption manifest whose "
                                     "spec.keyManagement.storage folder holds it",
                                     what, m.path.string(), h->key_id, i));
      if (enc->key_folder.empty())
        throw InputError(fmt::format("{}: {} is an encrypted model (key id {}) and has no key: ModelStorageEncryption "
                                     "'{}' names no spec.keyManagement.storage folder, and the entry no key",
                                     what, m.path.string(), h->key_id, enc->manifest));
      std::error_code ec;
      if (!fs::is_directory(enc->key_folder, ec))
        throw InputError(fmt::format("{}: {} is an encrypted model (key id {}); the key folder {} "
                                     "(ModelStorageEncryption '{}' spec.keyManagement.storage) does not exist",
                                     what, m.path.string(), h->key_id, enc->key_folder.string(), enc->manifest));
      size_t tried = 0;
      const auto found = find_key_file(enc->key_folder, h->key_id, &tried);
      if (!found)
        throw InputError(fmt::format("{}: {} is an encrypted model (key id {}); none of the {} modelgate key file(s) in "
                                     "{} (ModelStorageEncryption '{}' spec.keyManagement.storage) has that id",
                                     what, m.path.string(), h->key_id, tried, enc->key_folder.string(), enc->manifest));
      key_file = *found;
    }
    auto key = std::make_shared<SymmetricKey>(read_symmetric_key(key_file));
    if (key->id() != h->key_id)
      throw InputError(fmt::format("{}: {} is encrypted for key id {}, but {} holds key id {}", what, m.path.string(),
                                   h->key_id, key_file.string(), key->id()));
    keys.push_back(std::move(key));
  }
  return keys;
}

}  // namespace modelgate::engine
