#pragma once
// The typed outcome of a validation run. The runner fills it; engine/report renders it (JSON,
// terminal summary, JUnit, Prometheus, HTML) and reads a JSON report back into it.
#include "engine/config.h"
#include "engine/environment.h"
#include "fingerprint/record.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace modelgate::engine {

/// Something a gate acts on: a check that failed its threshold or a sanity check.
struct Finding {
  std::string check;  ///< e.g. "adversarial/pgd/eps=0.1", "sanity/probability-outputs"
  Severity severity = Severity::high;
  Action action = Action::warn;
  std::string message;
  double observed = 0;
  double threshold = 0;
};

/// Correct predictions out of a total.
struct Count {
  int64_t correct = 0;
  int64_t total = 0;
  double accuracy() const { return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
};

/// One attack plan's outcome on one model.
struct AttackOutcome {
  AttackPlan plan;
  Count robust;                        ///< correct clean and at every evaluated iterate
  std::optional<int64_t> last_correct;  ///< correct at the last iterate (no active set)
  std::optional<double> target_success_rate;  ///< targeted modes
  double zero_gradient_fraction = 0;
  double seconds = 0;
};

/// One corruption plan's outcome on one model.
struct CorruptionOutcome {
  CorruptionPlan plan;
  Count score;
  double seconds = 0;
};

/// The fingerprint as a validation report summarises it.
struct FingerprintSummary {
  std::string root_sha256, arch_sha256;
  int64_t parameter_count = 0;
  std::vector<std::string> layers;
  fingerprint::ProbeSpec probes;  ///< without the boundary probes' inputs
};

/// Everything the run found out about one model.
struct ModelResult {
  std::string name;
  std::string path;
  std::string sha256;
  Count clean;
  std::vector<AttackOutcome> attacks;
  std::vector<CorruptionOutcome> corruptions;
  std::optional<FingerprintSummary> fingerprint;
  std::vector<Finding> findings;
};

/// Where the dataset came from and how it was batched.
struct DatasetSummary {
  std::string path;
  int64_t samples = 0;
  std::vector<int64_t> input_shape;
  int64_t batch_size = 0;
};

/// Which implementation served each modelgate operator on the run's device.
struct KernelBackends {
  bool cuda_compiled = false;
  std::vector<std::pair<std::string, std::string>> backends;  ///< operator, cuda|cpu|reference
};

/// A finding as the job-level list carries it: with the model it belongs to.
struct ModelFinding {
  std::string model;
  Finding finding;
};

/// The outcome of `modelgate validate`.
struct JobResult {
  std::string schema_version = "1";
  std::string tool_version;
  Environment environment;
  std::string job_name, job_path;
  std::string device;
  uint64_t seed = 0;
  std::string started_at, finished_at;  ///< ISO 8601 UTC
  KernelBackends kernels;
  DatasetSummary dataset;
  std::vector<ManifestInfo> manifests;
  std::vector<std::string> warnings;
  std::vector<ModelResult> models;
  nlohmann::json signature;  ///< the inline Ed25519 signature object; null when unsigned

  /// The worst action of any finding (pass when there is none).
  Action verdict() const;
  /// The exit code the verdict maps to (0 pass, 1 review, 2 block).
  int exit_code() const { return exit_code_for(verdict()); }
  /// Every model's findings in model order, each with its model's name.
  std::vector<ModelFinding> findings() const;
  /// Seconds from start to finish (0 when either time is missing).
  double run_seconds() const;
};

/// "block", "review" or "pass": the verdict's name in reports (warn counts as pass).
std::string verdict_name(Action verdict);

}  // namespace modelgate::engine
