#pragma once
// Where a model's code runs. By default in a worker process of its own (`modelgate worker`,
// engine/worker.cpp), which confines itself (engine/isolation: memory and CPU limits, Landlock,
// seccomp) before it opens the model; the parent only sends requests and reads typed results
// back, and is the only writer of outputs. With ModelRuntimeProtection isolation: none, in this
// process. Loading, the graph check, every forward and backward happen in the host.
#include "engine/config.h"
#include "engine/evaluate_model.h"
#include "engine/model.h"
#include "engine/model_crypto.h"
#include "engine/preflight.h"
#include "engine/scan/graph_check.h"
#include "fingerprint/fingerprint.h"
#include "engine/isolation/policy.h"
#include "engine/isolation/worker.h"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace modelgate::engine {

/// The worker ended badly: it crashed, was killed, hit a limit or did not answer in time. A
/// finding for its model (check isolation/<kind>), not a failure of the run.
struct WorkerFailure : std::runtime_error {
  WorkerFailure(std::string check_, const std::string& what) : std::runtime_error(what), check(std::move(check_)) {}
  std::string check;  ///< isolation/timeout, isolation/crashed, isolation/memory-limit, isolation/cpu-limit, isolation/protocol
};

/// How the host runs model code.
struct HostSettings {
  IsolationSpec isolation;
  std::vector<std::filesystem::path> read_paths;  ///< what the model's code may read besides the model (job, data)
  int64_t graph_node_limit = 2000000;
  const std::atomic<int>* signal = nullptr;       ///< forwarded to the worker (SIGTERM, SIGINT)
  /// The key of an encrypted model (null: a plain file). The host decrypts the file in memory
  /// (a worker gets the key's bytes in its request, never the key file) and loads the plaintext
  /// from memory; no plaintext is written anywhere.
  std::shared_ptr<const SymmetricKey> key;
  uint64_t max_model_bytes = UINT64_MAX;          ///< the largest plaintext an encrypted model may have
  std::optional<Normalization> normalize;         ///< the model entry's input normalisation
};

/// One model, loaded in its host.
class ModelHost {
 public:
  /// Loads `path` onto `device` in a new worker (or here) and checks every method's graph.
  /// InputError for a file that is no loadable TorchScript archive, as load_model;
  /// WorkerFailure when the worker dies or hangs while loading.
  static ModelHost open(const std::filesystem::path& path, const c10::Device& device, const HostSettings& settings);

  ModelHost(ModelHost&&) noexcept;
  ModelHost& operator=(ModelHost&&) noexcept;
  ~ModelHost();

  const scan::GraphCheck& graphs() const { return graphs_; }
  const std::string& sha256() const { return sha256_; }
  /// The archive's modelgate.json metadata (null when absent).
  const nlohmann::json& metadata() const { return metadata_; }
  /// How the host was confined (process false: this process).
  const IsolationInfo& isolation() const { return isolation_; }

  /// What `modelgate inspect` shows (engine/model.h describe()).
  nlohmann::json describe();
  /// Module paths a fingerprint can tap.
  std::vector<std::string> capturable_layers();
  /// fingerprint_model on `spec`'s probes at `layers`.
  fingerprint::Fingerprint fingerprint(const fingerprint::ProbeSpec& spec, const std::vector<std::string>& layers);
  /// check_model_against_data on the job's dataset (`data`, already loaded here; a worker
  /// reads its own copy).
  ModelChecks preflight(const JobConfig& job, const Dataset& data);
  /// evaluate_model with every plan of `job`, then the findings (derive_findings and the
  /// monitoring findings). `spent` gets the evaluation seconds charged per manifest.
  ModelResult evaluate(const JobConfig& job, const Dataset& data, const std::string& name, const ModelChecks& checks,
                       const EvaluationContext& ctx, std::map<std::string, double>& spent,
                       std::optional<double> job_seconds_left, const std::map<std::string, double>& manifest_seconds_left);

 private:
  ModelHost() = default;
  nlohmann::json call(const nlohmann::json& request, double timeout_seconds, const Progress* progress);

  std::filesystem::path path_;
  c10::Device device_ = c10::Device(c10::kCPU);
  HostSettings settings_;
  std::string sha256_;
  nlohmann::json metadata_;
  scan::GraphCheck graphs_;
  IsolationInfo isolation_;
  std::unique_ptr<LoadedModel> local_;            ///< isolation: none
  std::unique_ptr<isolation::Worker> worker_;     ///< the default
};

/// The entry of `modelgate worker` (started only by ModelHost): serves one model's requests on
/// fds 3 and 4 until told to exit. Returns the process exit code.
int run_worker();

}  // namespace modelgate::engine
