#pragma once
// Work a job asks for, estimated before it starts: each check's forward-and-backward passes over
// the dataset, times the seconds one such pass took on each model in the preflight. A job that
// could not finish a fraction of its work in the time it has is a mistake in the job file, found
// before the night is spent on it.
#include "engine/config.h"

#include <optional>
#include <string>
#include <vector>

namespace modelgate::engine {

/// A job estimated at more than this many times a limit is refused; one nearer the limit runs
/// and is cut off by it as usual. The estimate is an upper bound (attacks that drop fooled
/// samples from the batch do less), from one timed batch.
inline constexpr double kEstimateMargin = 4.0;

/// One check's work on one model, in passes over one sample (a forward and a backward = 1).
struct CheckWork {
  std::string source;    ///< where the job file sets it: "AdversarialTesting 'adv': spec.attacks[0]"
  std::string what;      ///< "pgd eps=0.03 steps=10000 restarts=100"
  std::string manifest;  ///< the manifest whose budget it spends
  double passes = 0;
};

/// Every check of `job` over `samples` samples, in job order (the clean pass, attacks, corruptions).
std::vector<CheckWork> job_work(const JobConfig& job, int64_t samples);

/// The seconds one model takes for one pass over one sample, as the preflight measured them.
struct ModelPace {
  std::string name;
  double sample_seconds = 0;
};

/// Throws InputError (exit 3) naming the job file, the check's field and the limit when, on some
/// model, one check's estimate exceeds kEstimateMargin × the evaluation timeout (with process
/// isolation), a manifest's checks exceed it × the manifest's schedule.duration, or the whole
/// job exceeds it × `job_budget`.
void check_work(const JobConfig& job, int64_t samples, const std::vector<ModelPace>& models,
                std::optional<double> job_budget);

}  // namespace modelgate::engine
