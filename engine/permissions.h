#pragma once
// The seed's ModelPermissions manifest: files readable or writable by more people than it allows.
#include "engine/config.h"
#include "engine/results.h"

#include <utility>
#include <vector>

namespace modelgate::engine {

/// Checks each listed path (a folder: itself and what is in it, up to 10 000 entries) against
/// its rule's mode, and when the job has a ModelPermissions manifest, each model file and each
/// `extra` file (keys) against the strictest mode it lists. A file fails when group or others
/// hold a permission bit its mode does not grant; the owner's bits are the owner's business.
std::vector<PermissionCheck> check_permissions(const JobConfig& job, const std::vector<std::filesystem::path>& extra = {});

/// One finding per failed check: (model name, finding) for a model file, ("", finding) for the rest.
std::vector<std::pair<std::string, Finding>> permission_findings(const JobConfig& job,
                                                                 const std::vector<PermissionCheck>& checks);

}  // namespace modelgate::engine
