#pragma once
// The terminal summary `validate` and `render --summary` print on stdout.
#include "engine/results.h"

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace modelgate::engine {

/// A path as the user would type it: relative to the working directory when under it.
std::string shown_path(const std::string& path);

/// The summary of a run: one line per evaluation, the findings, the verdict, and the files
/// written (label, path), e.g. {"report", "r.json"}, {"junit", "r.xml"}.
std::string summary_text(const JobResult& result,
                         const std::vector<std::pair<std::string, std::filesystem::path>>& outputs);

}  // namespace modelgate::engine
