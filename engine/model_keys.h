#pragma once
// Which key opens each of a job's models (the seed's ModelStorageEncryption): the entry's own
// `key`, else the key of the file's key id in the manifest's spec.keyManagement.storage folder.
#include "engine/config.h"
#include "engine/model_crypto.h"

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace modelgate::engine {

/// The key of each model of `job`, in job order; null for a model that is not encrypted (or
/// whose file is missing: the load reports that). Reads only the first bytes of each model.
/// InputError, before anything is evaluated, naming the model and what was tried: an encrypted
/// model without a usable key, a key given for a file that is not encrypted, a key of another
/// id, or a key file that is unusable (mode, format).
std::vector<std::shared_ptr<const SymmetricKey>> model_keys(const JobConfig& job);

/// The first `*.key` file in `folder` (by name; not its subfolders) that is a modelgate key
/// with id `id`; `tried` gets how many modelgate key files were looked at.
std::optional<std::filesystem::path> find_key_file(const std::filesystem::path& folder, const std::string& id,
                                                   size_t* tried = nullptr);

}  // namespace modelgate::engine
