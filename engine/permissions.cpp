#include "engine/permissions.h"

#include <fmt/format.h>
#include <sys/stat.h>

namespace modelgate::engine {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxEntries = 10000;
constexpr unsigned kFolderTraversal = 055;  // r-x for group and others

PermissionCheck check_one(const fs::path& path, unsigned allowed, const std::string& manifest) {
  PermissionCheck c;
  c.path = path.string();
  c.manifest = manifest;
  c.allowed = allowed;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    c.exists = true;
    c.mode = static_cast<unsigned>(st.st_mode & 07777);
  }
  return c;
}

}  // namespace

std::vector<PermissionCheck> check_permissions(const JobConfig& job, const std::vector<fs::path>& extra) {
  std::vector<PermissionCheck> out;
  if (job.permissions.empty()) return out;
  unsigned strictest = 07777;
  for (const auto& rule : job.permissions) {
    strictest &= rule.mode;
    out.push_back(check_one(rule.path, rule.mode, rule.manifest));
    std::error_code ec;
    if (!fs::is_directory(rule.path, ec) || fs::is_symlink(rule.path, ec)) continue;
    size_t seen = 0;
    // A folder's files get the rule's mode; the folders themselves may be listed and entered
    // by group and others (a folder at 0600 would be unusable), never written.
    out.back().allowed |= kFolderTraversal;
    for (auto it = fs::recursive_directory_iterator(rule.path, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator() && seen < kMaxEntries; it.increment(ec), ++seen) {
      out.push_back(check_one(it->path(), rule.mode, rule.manifest));
      if (it->is_directory(ec) && !it->is_symlink(ec)) out.back().allowed |= kFolderTraversal;
    }
  }
  const std::string manifest = job.permissions.front().manifest;
  for (const auto& m : job.models) out.push_back(check_one(m.path, strictest, manifest));
  for (const auto& p : extra) out.push_back(check_one(p, strictest, manifest));
  return out;
}

std::vector<std::pair<std::string, Finding>> permission_findings(const JobConfig& job,
                                                                 const std::vector<PermissionCheck>& checks) {
  std::vector<std::pair<std::string, Finding>> out;
  for (const auto& c : checks) {
    if (c.ok()) continue;
    std::string model;
    for (const auto& m : job.models)
      if (m.path.string() == c.path) model = m.name;
    const auto sev = job.permission_severity;
    out.emplace_back(model, Finding{"permissions/" + c.path, sev, job.action_for(sev),
                                    fmt::format("{} has mode {:04o}; '{}' allows at most {:04o} (group and others may "
                                                "not hold {:04o})",
                                                c.path, c.mode, c.manifest, c.allowed, c.mode & 077 & ~c.allowed),
                                    static_cast<double>(c.mode), static_cast<double>(c.allowed), std::nullopt});
  }
  return out;
}

}  // namespace modelgate::engine
