#pragma once
// The earlier reports of a job in its report folder: the baseline a run compares with, and the
// retention that keeps the folder from filling the disk.
#include "engine/results.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace modelgate::engine {

/// An earlier timestamped report of the job (<job>-<UTC stamp>[-N].json) that could be read.
struct PastReport {
  std::filesystem::path path;
  std::string started_at;
  bool complete = false;
  Action verdict = Action::pass;
};

/// The job's timestamped reports in `dir`, oldest first (by startedAt, then name). Files of
/// other jobs, unreadable files and fixed-path reports (other names) are left out.
std::vector<PastReport> past_reports(const std::filesystem::path& dir, const std::string& job);

/// The newest complete report whose verdict was pass: the last good night. `exclude` (the
/// report being written) is never chosen.
std::optional<std::filesystem::path> last_good_report(const std::filesystem::path& dir, const std::string& job,
                                                      const std::filesystem::path& exclude = {});

/// Deletes, with their sibling formats (same stem, `extensions`), the job's reports older than
/// its `keep` newest complete ones. Call after the new report is written; returns what it deleted.
std::vector<std::filesystem::path> prune_reports(const std::filesystem::path& dir, const std::string& job, int64_t keep,
                                                 const std::vector<std::string>& extensions);

}  // namespace modelgate::engine
