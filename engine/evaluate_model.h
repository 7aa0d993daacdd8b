#pragma once
// Runs every plan of a job on one loaded model: the clean pass, each attack at each ε, each
// corruption at each level, the fingerprint summary, and the monitoring manifests' figures.
// A check the budgets or a signal do not leave time for is recorded as skipped, with the reason.
// Findings are derived separately.
#include "engine/config.h"
#include "engine/dataset.h"
#include "engine/model.h"
#include "engine/progress.h"
#include "engine/results.h"
#include "engine/stop.h"

#include <string>

namespace modelgate::engine {

/// How one model is evaluated: where, with which seed, when to stop, and where progress and
/// records go.
struct EvaluationContext {
  c10::Device device = c10::Device(c10::kCPU);
  uint64_t seed = 0;
  Progress progress;
  StopControl* stop = nullptr;     ///< budgets and signals; null: never stops
  std::string* records = nullptr;  ///< when set, per-sample attack records (JSON Lines) are appended
  int64_t batch_size = 0;          ///< the model's batch size (batchSize: auto); 0: the job's
};

/// Evaluates `model` (named `name` in the job) on `data` with every plan of `job`. The result
/// has no findings yet. Throws RunError naming the model and evaluation when one fails.
ModelResult evaluate_model(const JobConfig& job, const std::string& name, LoadedModel& model, const Dataset& data,
                           const EvaluationContext& ctx);

/// Every check of `job` for one model, as skipped with `reason` (a model the run did not reach).
std::vector<SkippedCheck> all_checks_skipped(const JobConfig& job, const std::string& reason);

}  // namespace modelgate::engine
