#pragma once
#include "engine/config.h"
#include "engine/progress.h"
#include "engine/results.h"

#include <optional>
#include <string>

namespace modelgate::engine {

/// Command-line overrides of the job file, and where progress goes.
struct RunOptions {
  std::optional<std::string> device;  ///< overrides spec.device
  std::optional<uint64_t> seed;       ///< overrides spec.seed
  bool records = false;               ///< collect per-sample attack records (JSON Lines)
  Progress progress = [](const std::string&) {};
};

/// The outcome of a validation run, and its per-sample records.
struct RunResult {
  JobResult result;
  std::string records;  ///< per-sample attack records, one JSON object per line (if asked for)
};

/// Loads the dataset and every model, checks them against each other before evaluating
/// anything (InputError on a mismatch), then runs every attack, corruption and fingerprint the
/// job asks for and derives the findings. Throws RunError if evaluation fails part-way; writes
/// no files.
RunResult run_job(const JobConfig& job, const RunOptions& options);

}  // namespace modelgate::engine
