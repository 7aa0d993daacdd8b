#pragma once
#include "engine/config.h"
#include "engine/progress.h"
#include "engine/results.h"

#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace modelgate::engine {

/// Command-line overrides of the job file, and where progress goes.
struct RunOptions {
  std::optional<std::string> device;    ///< overrides spec.device
  std::optional<uint64_t> seed;         ///< overrides spec.seed
  std::optional<std::string> baseline;  ///< overrides spec.baseline.report: auto, none or a path
  std::optional<double> budget_seconds; ///< overrides spec.budget
  bool check_estimate = true;           ///< refuse a job estimated far over its time limits
  bool records = false;                 ///< collect per-sample attack records (JSON Lines)
  const std::atomic<int>* signal = nullptr;  ///< the termination signal received, 0 before (may be null)
  std::vector<std::filesystem::path> key_files;  ///< key files of the run, for ModelPermissions
  std::filesystem::path report_path;    ///< the report this run will write: never its own baseline
  Progress progress;
};

/// The outcome of a validation run, and its per-sample records.
struct RunResult {
  JobResult result;
  std::string records;  ///< per-sample attack records, one JSON object per line (if asked for)
};

/// Finds the key of every encrypted model (InputError when one has none), loads the dataset and every model, checks them against each other before evaluating
/// anything (InputError on a mismatch), then runs every attack, corruption, fingerprint and
/// monitoring manifest the job asks for within its budgets, compares the figures with the
/// baseline report, and derives the findings. A signal or an exhausted budget stops the run at
/// the next batch boundary and the rest is recorded as skipped; the result then says it is
/// incomplete. Throws RunError if evaluation fails part-way; writes no files.
RunResult run_job(const JobConfig& job, const RunOptions& options);

}  // namespace modelgate::engine
