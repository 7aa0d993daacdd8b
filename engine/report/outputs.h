#pragma once
// Which files a run writes, and writing them: the JSON report and the formats rendered from it.
#include "engine/config.h"
#include "engine/results.h"

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace modelgate::engine {

/// A file to render a result into.
struct Output {
  ReportFormat format;
  std::filesystem::path path;
};

/// Fixed paths asked for on the command line (empty: not asked for).
struct FixedOutputs {
  std::string json, junit, prometheus, html;
};

/// The outputs of a validate run: the JSON report at `fixed.json` or, if not given, at a new
/// timestamped name in `dir`; every format in `formats` beside it with the same stem (its own
/// extension), unless a fixed path is given for that format; and every fixed path given. The
/// timestamped stem is one no earlier file of any of these formats has. Throws InputError when
/// two outputs would be the same file.
std::vector<Output> plan_outputs(const std::vector<ReportFormat>& formats, const FixedOutputs& fixed,
                                 const std::filesystem::path& dir, const std::string& job_name);

/// The bytes of `result` in `format`.
std::string render(const JobResult& result, ReportFormat format);

/// Writes every output atomically (JSON first); the summary's (label, path) list of what was written.
std::vector<std::pair<std::string, std::filesystem::path>> write_outputs(const JobResult& result,
                                                                         const std::vector<Output>& outputs);

}  // namespace modelgate::engine
