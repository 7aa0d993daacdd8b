#include "engine/report/outputs.h"

#include "engine/errors.h"
#include "engine/report/files.h"
#include "engine/report/html.h"
#include "engine/report/json_report.h"
#include "engine/report/junit.h"
#include "engine/report/prometheus.h"

#include <fmt/format.h>

#include <algorithm>

namespace modelgate::engine {
namespace fs = std::filesystem;
namespace {

const std::string& fixed_path(const FixedOutputs& f, ReportFormat format) {
  switch (format) {
    case ReportFormat::json: return f.json;
    case ReportFormat::junit: return f.junit;
    case ReportFormat::prometheus: return f.prometheus;
    case ReportFormat::html: return f.html;
  }
  return f.json;
}

std::string label(ReportFormat f) { return f == ReportFormat::json ? "report" : to_string(f); }

}  // namespace

std::vector<Output> plan_outputs(const std::vector<ReportFormat>& formats, const FixedOutputs& fixed, const fs::path& dir,
                                 const std::string& job_name) {
  std::vector<ReportFormat> wanted{ReportFormat::json};
  for (auto f : formats)
    if (std::find(wanted.begin(), wanted.end(), f) == wanted.end()) wanted.push_back(f);
  for (auto f : {ReportFormat::junit, ReportFormat::prometheus, ReportFormat::html})
    if (!fixed_path(fixed, f).empty() && std::find(wanted.begin(), wanted.end(), f) == wanted.end()) wanted.push_back(f);
  std::vector<std::string> sibling_exts;
  for (auto f : wanted)
    if (fixed_path(fixed, f).empty()) sibling_exts.push_back(extension(f));
  const fs::path json = fixed.json.empty() ? timestamped_report_path(dir, job_name, sibling_exts) : fs::path(fixed.json);
  std::vector<Output> out;
  for (auto f : wanted) {
    const auto& p = fixed_path(fixed, f);
    out.push_back({f, p.empty() ? fs::path(json).replace_extension(extension(f)) : fs::path(p)});
  }
  for (size_t i = 0; i < out.size(); ++i)
    for (size_t j = i + 1; j < out.size(); ++j)
      if (fs::absolute(out[i].path).lexically_normal() == fs::absolute(out[j].path).lexically_normal())
        throw InputError(fmt::format("{}: named as both the {} and the {} output", out[i].path.string(),
                                     to_string(out[i].format), to_string(out[j].format)));
  return out;
}

std::string render(const JobResult& result, ReportFormat format) {
  switch (format) {
    case ReportFormat::json: return report_text(result);
    case ReportFormat::junit: return junit_xml(result);
    case ReportFormat::prometheus: return prometheus_text(result);
    case ReportFormat::html: return html_report(result);
  }
  return "";
}

std::vector<std::pair<std::string, fs::path>> write_outputs(const JobResult& result, const std::vector<Output>& outputs) {
  std::vector<std::pair<std::string, fs::path>> written;
  for (const auto& o : outputs) {
    write_atomically(o.path, render(result, o.format));
    written.emplace_back(label(o.format), o.path);
  }
  return written;
}

}  // namespace modelgate::engine
