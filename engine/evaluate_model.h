#pragma once
// Runs every plan of a job on one loaded model: the clean pass, each attack at each ε, each
// corruption at each level, and the fingerprint summary. Findings are derived separately.
#include "engine/config.h"
#include "engine/dataset.h"
#include "engine/model.h"
#include "engine/progress.h"
#include "engine/results.h"

#include <string>

namespace modelgate::engine {

/// How one model is evaluated: where, with which seed, and where progress and records go.
struct EvaluationContext {
  c10::Device device = c10::Device(c10::kCPU);
  uint64_t seed = 0;
  Progress progress = [](const std::string&) {};
  std::string* records = nullptr;  ///< when set, per-sample attack records (JSON Lines) are appended
};

/// Evaluates `model` (named `name` in the job) on `data` with every plan of `job`. The result
/// has no findings yet. Throws RunError naming the model and evaluation when one fails.
ModelResult evaluate_model(const JobConfig& job, const std::string& name, LoadedModel& model, const Dataset& data,
                           const EvaluationContext& ctx);

}  // namespace modelgate::engine
