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

/// What became of each input's signature: "verified" (under --verify), "not checked" (without
/// it), or what the input was instead ("model file": the candidate is the file being judged;
/// "built in": the calibrated thresholds).
struct SignatureChecks {
  std::string reference = "not checked";
  std::string candidate = "not checked";
  std::string thresholds = "built in";
};

/// The verdict's evidence in a few lines (the report has every field).
std::string comparison_text(const fingerprint::Comparison& c);

/// The comparison report: verdict, exit code, tool and environment, both sides, every metric,
/// what the signatures of its inputs showed, and when it finished.
nlohmann::json comparison_report(const ComparedSide& reference, const ComparedSide& candidate,
                                 const fingerprint::Comparison& c, int exit_code, const std::string& device,
                                 const SignatureChecks& signatures, const Environment& environment);

}  // namespace modelgate::engine
