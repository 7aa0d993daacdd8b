#pragma once
// The typed outcome of a validation run. The runner fills it; engine/report renders it (JSON,
// terminal summary, JUnit, Prometheus, HTML) and reads a JSON report back into it.
#include "engine/normalization.h"
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
  std::optional<double> baseline;  ///< regression findings: the figure in the baseline report
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

/// One corruption of the benchmark on one model: its error per severity evaluated and, against
/// the baseline, CE = Σ E / Σ E_base and relative CE = Σ (E − E_clean) / Σ (E_base − E_clean,base),
/// summed over the severities both have (Hendrycks and Dietterich, 2019). Unset where the
/// denominator is not positive (a baseline without errors, or one the corruption does not degrade).
struct BenchmarkRow {
  std::string name;
  bool in_mean = true;             ///< one of the 15 mCE averages
  std::vector<int64_t> severities;
  std::vector<double> errors;      ///< 1 − accuracy, per severity
  std::optional<double> ce, relative_ce;
};

/// The corruption benchmark's summary of a model: benchmark entries (generated or stored) by
/// corruption; mCE and relative mCE, the means of CE and relative CE over the 15 that have them;
/// the unnormalised mean error over every entry of the 15.
struct BenchmarkSummary {
  std::string baseline;                 ///< "model NAME" or "report PATH, model NAME"; "" for none
  std::optional<double> clean_error, baseline_clean_error;
  std::vector<BenchmarkRow> rows;       ///< in the benchmark's order
  std::optional<double> mce, relative_mce;
  std::optional<double> mean_error;
  bool complete = false;                ///< all 15 at all five severities (and the baseline has them)
};

/// The fingerprint as a validation report summarises it.
struct FingerprintSummary {
  std::string root_sha256, arch_sha256;
  int64_t parameter_count = 0;
  std::vector<std::string> layers;
  fingerprint::ProbeSpec probes;  ///< without the boundary probes' inputs
};

/// A check that was not run, and why (a time budget, a signal, a blocking scan).
struct SkippedCheck {
  std::string section;      ///< clean | adversarial | robustness | fingerprint | monitoring
  std::string check;        ///< the check's finding name, e.g. "adversarial/pgd/eps=0.1"
  std::string description;  ///< e.g. "pgd eps=0.1 steps=10"
  std::string manifest;     ///< the manifest it belongs to ("" for the ValidationJob)
  std::string reason;
};

/// Latency percentiles of timed forward passes, in milliseconds.
struct LatencyStats {
  int64_t count = 0;
  double mean_ms = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
};

/// What InferenceMonitoring measured on one model.
struct InferenceFigures {
  std::string manifest;
  LatencyStats batch;   ///< forward passes of the clean pass, at the job's batch size
  LatencyStats single;  ///< batch-1 forward passes (the latency alert applies to their p99)
  double throughput = 0;    ///< samples per second in the clean pass
  int64_t batches = 0, failed_batches = 0;  ///< failed: non-finite outputs or an exception
  double error_rate() const { return batches ? static_cast<double>(failed_batches) / static_cast<double>(batches) : 0.0; }
};

/// What ResourceMonitoring measured while one model was evaluated.
struct ResourceFigures {
  std::string manifest;
  int64_t peak_rss_bytes = 0, memory_total_bytes = 0;
  double cpu_seconds = 0, wall_seconds = 0;
  int64_t cores = 1;
  std::optional<int64_t> gpu_peak_bytes, gpu_total_bytes;  ///< on a CUDA device
  double memory_share() const {
    return memory_total_bytes ? static_cast<double>(peak_rss_bytes) / static_cast<double>(memory_total_bytes) : 0.0;
  }
  double cpu_share() const { return wall_seconds > 0 ? cpu_seconds / (wall_seconds * static_cast<double>(cores)) : 0.0; }
  std::optional<double> gpu_share() const {
    if (!gpu_peak_bytes || !gpu_total_bytes || *gpu_total_bytes == 0) return std::nullopt;
    return static_cast<double>(*gpu_peak_bytes) / static_cast<double>(*gpu_total_bytes);
  }
};

/// A scan finding the job accepted for this exact file (ModelVulnerabilityScanning spec.allow).
struct AcceptedFinding {
  std::string check;  ///< scan/<id>
  std::string location, message, reason, manifest;
};

/// How the worker that ran the model's code was confined: one true line per mechanism.
struct IsolationInfo {
  bool process = false;  ///< false: the model ran in modelgate's own process (isolation: none)
  std::string landlock, seccomp, memory, cpu;
  std::string timeouts;  ///< e.g. "load 300 s, each evaluation 3600 s"
};

/// What the scan before load (and the graph check after it) saw. The findings that count are
/// in ModelResult::findings as scan/<id>.
struct ScanSummary {
  std::string format;         ///< TorchScript archive, torch.save archive, pickle, unknown
  int64_t records = 0, pickles = 0;
  bool loaded = false;        ///< the scan allowed the load
  bool blocked = false;       ///< the scan or the graph check blocked the model: none of its checks ran
  bool graphs_checked = false;
  int64_t graph_nodes = 0;
  std::vector<AcceptedFinding> accepted;
  std::optional<IsolationInfo> isolation;
};

/// How an encrypted model file was opened (ModelStorageEncryption): decrypted in memory, never
/// on disk. The model's sha256 is the plaintext's; `file_sha256` is the encrypted file's.
struct EncryptionInfo {
  std::string algorithm = "aes-256-gcm";
  std::string key_id;       ///< 16 hex digits
  std::string key_file;     ///< the key file that opened it
  std::string file_sha256;  ///< of the encrypted file as read
};

/// A batch that ran out of memory and was split in halves and run again (same results: every
/// sample's randomness is keyed by its index, not its batch).
struct BatchRetry {
  std::string check;     ///< the evaluation's description
  int64_t first = 0;     ///< first sample of the batch that failed
  int64_t from = 0;      ///< its size
  int64_t to = 0;        ///< the size it was run at after halving
  std::string reason;    ///< the allocator's message
};

/// Everything the run found out about one model.
struct ModelResult {
  std::string name;
  std::string path;
  std::string sha256;  ///< of the model's bytes (for an encrypted file: of its plaintext)
  std::optional<EncryptionInfo> encryption;
  std::optional<Normalization> normalize;  ///< applied inside the forward wrapper
  int64_t batch_size = 0;                  ///< the batch size it was evaluated with (0: not evaluated)
  std::optional<int64_t> sample_bytes;     ///< batchSize: auto: memory of one sample's gradient pass
  std::vector<BatchRetry> batch_retries;
  Count clean;
  std::vector<AttackOutcome> attacks;
  std::vector<CorruptionOutcome> corruptions;
  std::optional<BenchmarkSummary> benchmark;  ///< when it has corruption benchmark entries
  std::optional<FingerprintSummary> fingerprint;
  std::optional<InferenceFigures> inference;
  std::optional<ResourceFigures> resources;
  std::optional<ScanSummary> scan;
  std::vector<SkippedCheck> skipped;
  std::vector<Finding> findings;
};

/// A file a ModelPermissions rule (or the job's own model list) checked.
struct PermissionCheck {
  std::string path;
  std::string manifest;  ///< "" for the job's model files
  bool exists = false;
  unsigned mode = 0;     ///< the permission bits found
  unsigned allowed = 0;  ///< the most permissive mode allowed
  bool ok() const { return !exists || (mode & 077 & ~allowed) == 0; }
};

/// The earlier report a run was compared with, or why there was none.
struct BaselineInfo {
  std::optional<std::string> path;  ///< the report compared with
  std::string sha256;               ///< of that file
  double max_drop = 0.02;
  std::string note;                 ///< why there is no baseline (when path is unset)
  int64_t compared = 0, drops = 0;
  std::vector<std::string> only_before, only_after, changed_sha256;
};

/// Where the dataset came from and how it was batched.
struct DatasetSummary {
  std::string path;
  int64_t samples = 0;
  std::vector<int64_t> input_shape;
  int64_t batch_size = 0;
  std::string format;                      ///< npz, npy, pt, cifar-bin, imagefolder, corrupted-npy
  std::string storage;                     ///< how the pixels are stored and read
  int64_t file_samples = 0;                ///< in the file, before limit/sample
  std::string selection = "all";           ///< "all", "the first N", "N drawn with seed S from M"
  std::vector<std::string> skipped_files;  ///< imagefolder onError: skip
  int64_t peak_rss_bytes = 0;              ///< modelgate's own peak resident memory once the set was opened and checked
  bool batch_auto = false;                 ///< batchSize: auto (each model's batch size is its own)
  std::optional<int64_t> memory_budget;    ///< bytes batchSize: auto kept within
  /// corrupted-npy: the clean set's path; unset: it has none (every model's clean figure is 0 of 0).
  std::optional<std::string> clean;
};

/// Which implementation served each modelgate operator on the run's device.
struct KernelBackends {
  bool cuda_compiled = false;
  std::vector<std::pair<std::string, std::string>> backends;  ///< operator, cuda|cpu|reference
};

/// A finding as the job-level list carries it: with the model it belongs to ("" for the job).
struct ModelFinding {
  std::string model;
  Finding finding;
};

/// The outcome of `modelgate validate`.
struct JobResult {
  std::string schema_version = "2";
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
  std::vector<Finding> job_findings;  ///< findings of the job as a whole (budget, permissions of non-model files)
  bool complete = true;               ///< every check ran (no budget ran out, no signal)
  std::optional<std::string> interrupted;  ///< the signal that stopped the run ("SIGTERM"), if one did
  std::optional<BaselineInfo> baseline;
  std::vector<PermissionCheck> permissions;
  nlohmann::json signature;  ///< the inline Ed25519 signature object; null when unsigned

  /// The worst action of any finding (pass when there is none).
  Action verdict() const;
  /// The exit code of the run: the verdict's (0 pass, 1 review, 2 block), or 4 when a signal
  /// interrupted it (its report is partial).
  int exit_code() const { return interrupted ? 4 : exit_code_for(verdict()); }
  /// The job's own findings, then every model's in model order, each with its model's name.
  std::vector<ModelFinding> findings() const;
  /// Seconds from start to finish (0 when either time is missing).
  double run_seconds() const;
};

/// "block", "review" or "pass": the verdict's name in reports (warn counts as pass).
std::string verdict_name(Action verdict);

}  // namespace modelgate::engine
