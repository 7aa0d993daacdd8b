#pragma once
#include "engine/config.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>

namespace modelgate::engine {

/// Command-line overrides of the job file, and where progress goes.
struct RunOptions {
  std::optional<std::string> device;  ///< overrides spec.device
  std::optional<uint64_t> seed;       ///< overrides spec.seed
  bool records = false;               ///< collect per-sample attack records (JSON Lines)
  /// Receives one line per finished evaluation and periodic progress on long ones.
  std::function<void(const std::string&)> progress = [](const std::string&) {};
};

/// The outcome of a validation run: the report (matching engine/schema/report.schema.json)
/// and the exit code its verdict maps to.
struct RunResult {
  nlohmann::ordered_json report;
  int exit_code = 0;
  std::string records;  ///< per-sample attack records, one JSON object per line (if asked for)
};

/// Loads the dataset and every model, checks them against each other before evaluating
/// anything (InputError on a mismatch), then runs every attack, corruption and fingerprint the
/// job asks for. Throws RunError if evaluation fails part-way; writes no files.
RunResult run_job(const JobConfig& job, const RunOptions& options);

}  // namespace modelgate::engine
