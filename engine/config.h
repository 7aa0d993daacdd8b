#pragma once
// The job file: a multi-document YAML file in the security.nootropic.ai/v1 dialect. One
// ValidationJob document names the models, the dataset and the report location; the seed
// manifests (AdversarialTesting, RobustnessTesting, ModelFingerprinting,
// ModelVulnerabilityScanning, ProcessIsolation, ...) say what to evaluate and how.
#include "engine/data/spec.h"
#include "engine/normalization.h"
#include "engine/plans.h"
#include "engine/scan/scan.h"
#include "engine/severity.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace modelgate::engine {

/// An output format of `validate`, written beside the JSON report with the same stem.
enum class ReportFormat { json, junit, prometheus, html };
std::string to_string(ReportFormat f);
/// The file extension of a format: .json, .xml, .prom, .html.
std::string extension(ReportFormat f);

struct ModelEntry {
  std::string name;
  std::filesystem::path path;  ///< resolved against the job file's folder
  std::filesystem::path key;   ///< spec.models[i].key: the key file of an encrypted model (empty: none given)
  std::optional<Normalization> normalize;  ///< spec.models[i].normalize
  std::vector<int64_t> input_shape;        ///< spec.models[i].inputShape (C, H, W; empty: not given)
};

/// A ModelStorageEncryption manifest: models may be encrypted files (`modelgate encrypt`),
/// opened with the key of their id from `key_folder` when their entry names no key.
struct StorageEncryptionSpec {
  std::string manifest;
  std::string algorithm = "aes-256-gcm";
  std::filesystem::path key_folder;  ///< spec.keyManagement.storage, ~ expanded (empty: not given)
};

/// A manifest document as the report lists it.
struct ManifestInfo {
  std::string kind;
  std::string name;
  bool handled = false;
};

/// spec.baseline: what a run is compared with ("did it get worse since the last good night?").
struct BaselineSpec {
  std::string report = "auto";  ///< auto (newest earlier complete passing report of the job), none, or a path
  double max_drop = 0.02;       ///< absolute drop in an accuracy beyond which a finding is raised
  Severity severity = Severity::high;
};

/// RobustnessTesting spec.baseline: the model the corruption benchmark's CE and mCE are relative
/// to, one of the job's models or a model of an earlier report.
struct BenchmarkBaselineSpec {
  std::string model;                ///< its name (in the report: default, its only model)
  std::filesystem::path report;     ///< empty: a model of this job
  std::string manifest;             ///< the RobustnessTesting manifest that sets it
};

/// An InferenceMonitoring manifest: latency and error-rate figures of the clean pass.
struct InferenceMonitoringSpec {
  std::string manifest;
  int64_t samples = 100;                        ///< batch-1 requests timed for the latency percentiles
  std::optional<double> latency_ms;             ///< alert when the batch-1 p99 exceeds it
  std::optional<double> error_rate;             ///< alert when the share of failed batches exceeds it
  Severity severity = Severity::medium;
};

/// A ResourceMonitoring manifest: peak memory, CPU and GPU use as shares, with limits.
struct ResourceMonitoringSpec {
  std::string manifest;
  std::optional<double> cpu, memory, gpu;  ///< limits as fractions (80% → 0.8)
  Severity severity = Severity::medium;
};

/// A path of a ModelPermissions manifest and the most permissive mode it may have.
struct PermissionRule {
  std::filesystem::path path;  ///< after ~ expansion
  unsigned mode = 0600;
  std::string manifest;
};

/// A scan finding accepted for one exact file (ModelVulnerabilityScanning spec.allow): it is
/// recorded in the report with the reason and does not count towards the verdict.
struct ScanAllowance {
  std::string finding;  ///< a finding id such as "code/setstate"
  std::string sha256;   ///< of the model file it applies to
  std::string reason;
  std::string manifest;
};

/// How model code is confined (ProcessIsolation, ModelRuntimeProtection): a worker process per
/// model with these limits. A worker that crashes, hangs or exceeds a limit is a finding of
/// `severity` for its model; the rest of the job goes on.
struct IsolationSpec {
  bool process = true;                   ///< false only with ModelRuntimeProtection spec.memory.isolation: none
  std::optional<uint64_t> memory_bytes;  ///< unset: three quarters of the machine's memory
  std::optional<double> cpu_seconds;     ///< CPU time of one worker
  double load_seconds = 300;             ///< loading, the graph check and the first forward
  double evaluation_seconds = 3600;      ///< one evaluation (an attack at one ε, a corruption level, ...)
  Severity severity = Severity::critical;
  std::vector<std::string> manifests;    ///< the manifests that set these
};

struct JobConfig {
  std::filesystem::path file;  ///< the job file itself
  std::string name;            ///< ValidationJob metadata.name
  std::vector<ModelEntry> models;
  data::DatasetSpec dataset;
  int64_t batch_size = 128;
  bool batch_auto = false;                 ///< spec.dataset.batchSize: auto (per model, from memoryBudget)
  std::optional<uint64_t> memory_budget;   ///< spec.dataset.memoryBudget (unset: a share of free memory)
  std::string device = "auto";  ///< auto | cpu | cuda
  uint64_t seed = 0;
  std::vector<ReportFormat> report_formats{ReportFormat::json};  ///< spec.reports.format (json always included)
  std::filesystem::path report_location;  ///< resolved folder for timestamped reports
  std::vector<AttackPlan> attacks;          ///< one per (attack, ε), in job order
  std::vector<CorruptionPlan> corruptions;  ///< one per (corruption, level), in job order
  std::optional<BenchmarkBaselineSpec> benchmark_baseline;  ///< RobustnessTesting spec.baseline
  std::map<Severity, Action> actions;  ///< severity → action (seed: critical block, high review)
  /// The action a finding of severity `s` takes: the mapped one, else warn.
  Action action_for(Severity s) const;
  int64_t fingerprint_probes = 64;     ///< synthetic probes (ModelFingerprinting spec.probes)
  std::vector<ManifestInfo> manifests;
  std::vector<std::string> warnings;  ///< unknown kinds and fields, and similar

  BaselineSpec baseline;
  std::optional<double> budget_seconds;         ///< spec.budget: the whole job's wall-clock time
  Severity budget_severity = Severity::high;    ///< of the budget/exceeded finding
  std::map<std::string, double> manifest_budgets;  ///< manifest name → seconds (its schedule.duration)
  std::optional<int64_t> keep_reports;          ///< spec.reports.keep: newest complete reports kept
  std::optional<InferenceMonitoringSpec> inference;
  std::optional<ResourceMonitoringSpec> resources;
  std::vector<PermissionRule> permissions;
  Severity permission_severity = Severity::medium;
  scan::ScanLimits scan_limits;           ///< ModelVulnerabilityScanning spec.limits
  std::vector<ScanAllowance> scan_allow;  ///< ModelVulnerabilityScanning spec.allow
  IsolationSpec isolation;
  std::optional<StorageEncryptionSpec> storage_encryption;  ///< ModelStorageEncryption
};

/// Reads and checks a job file. Throws InputError naming the file, the document and the
/// field for anything it cannot use; unknown kinds and fields become warnings.
JobConfig load_job(const std::filesystem::path& file);

}  // namespace modelgate::engine
