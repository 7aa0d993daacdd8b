#include "engine/report/history.h"

#include "engine/report/files.h"
#include "engine/report/json_report.h"
#include "engine/text_scan.h"

#include <algorithm>

namespace modelgate::engine {
namespace fs = std::filesystem;
namespace {

// "<stem>-YYYYMMDDTHHMMSSZ.json" or "<stem>-YYYYMMDDTHHMMSSZ-<n>.json": a report the job wrote.
bool report_file_name(const std::string& file, const std::string& stem) {
  TextCursor c{file};
  if (!c.lit(stem) || !c.lit("-")) return false;
  const auto fixed = [&c](size_t n) {
    const auto at = c.i;
    return c.digits() && c.i - at == n;
  };
  if (!(fixed(8) && c.lit("T") && fixed(6) && c.lit("Z"))) return false;
  if (c.lit("-") && !c.digits()) return false;
  return c.lit(".json") && c.end();
}

}  // namespace

std::vector<PastReport> past_reports(const fs::path& dir, const std::string& job) {
  std::vector<PastReport> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  const auto stem = job_file_stem(job);
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec) || !report_file_name(entry.path().filename().string(), stem)) continue;
    try {
      const auto r = read_report(entry.path());
      if (r.job_name != job) continue;
      out.push_back({entry.path(), r.started_at, r.complete, r.verdict()});
    } catch (const std::exception&) {
      // Not a report this build reads (or not one at all): neither a baseline nor ours to delete.
    }
  }
  std::sort(out.begin(), out.end(), [](const PastReport& a, const PastReport& b) {
    return a.started_at != b.started_at ? a.started_at < b.started_at : a.path < b.path;
  });
  return out;
}

std::optional<fs::path> last_good_report(const fs::path& dir, const std::string& job, const fs::path& exclude) {
  const auto reports = past_reports(dir, job);
  for (auto it = reports.rbegin(); it != reports.rend(); ++it)
    if (it->complete && exit_code_for(it->verdict) == 0 && it->path != exclude) return it->path;
  return std::nullopt;
}

std::vector<fs::path> prune_reports(const fs::path& dir, const std::string& job, int64_t keep,
                                    const std::vector<std::string>& extensions) {
  const auto reports = past_reports(dir, job);
  // The oldest of the `keep` newest complete reports; everything before it goes.
  int64_t seen = 0;
  std::optional<size_t> oldest_kept;
  for (size_t i = reports.size(); i-- > 0;)
    if (reports[i].complete && ++seen == keep) {
      oldest_kept = i;
      break;
    }
  std::vector<fs::path> deleted;
  if (!oldest_kept) return deleted;
  for (size_t i = 0; i < *oldest_kept; ++i) {
    std::error_code ec;
    for (const auto& ext : extensions) {
      auto p = reports[i].path;
      p.replace_extension(ext);
      if (fs::remove(p, ec)) deleted.push_back(p);
    }
  }
  return deleted;
}

}  // namespace modelgate::engine
