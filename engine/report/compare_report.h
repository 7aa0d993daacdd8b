#pragma once
// What `modelgate compare` prints and writes: the verdict's evidence and the comparison report.
#include "engine/environment.h"
#include "fingerprint/compare.h"
#include "fingerprint/record.h"

#include <nlohmann/json.hpp>

#include <string>

namespace modelgate::engine {

/// One side of a comparison as the report names it.
struct ComparedSide {
  std::string path;
  const fingerprint::Fingerprint& fingerprint;
};

/// The verdict's evidence in a few lines (the report has every field).
std::string comparison_text(const fingerprint::Comparison& c);

/// The comparison report: verdict, exit code, tool and environment, both sides, every metric,
/// whether the reference's signature was checked, and when it finished.
nlohmann::json comparison_report(const ComparedSide& reference, const ComparedSide& candidate,
                                 const fingerprint::Comparison& c, int exit_code, const std::string& device,
                                 bool reference_verified, const Environment& environment);

}  // namespace modelgate::engine
