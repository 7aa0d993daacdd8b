#pragma once
// Loading a model the way every command must: scan first, load only what the scan allows (in
// the model's host: a confined worker process by default), and check the loaded model's graphs
// before anything calls it.
#include "engine/model_host.h"
#include "engine/model_scan.h"

#include <optional>

namespace modelgate::engine {

/// A model file after the scan: its host only when the scan allowed the load and the graph
/// check did not block it.
struct CheckedModel {
  ModelScan scan;
  std::optional<ModelHost> host;
  std::optional<Finding> failure;  ///< isolation/*: the worker crashed, hung or hit a limit while loading
};

/// Scans `path`; unless that blocks, loads it onto `device` in its host (InputError for a file
/// that is no loadable TorchScript archive, as load_model) and adds the graph check's findings.
/// A model either step blocks is not returned; the scan says why. A worker that fails is a
/// finding of `failure_severity` with the policy's action for it. With `settings.key`, the
/// encrypted file is decrypted in memory for the scan (its plaintext is scanned) and again by
/// the host for the load; the plaintext never touches the disk.
CheckedModel scan_and_load(const std::filesystem::path& path, const c10::Device& device, const ScanPolicy& policy,
                           const HostSettings& settings);

/// The load half of scan_and_load, for a model whose scan (`checked.scan`) is done: unless the
/// scan blocks it, opens it in its host and adds the graph check's findings, or records the
/// worker's failure. InputError as load_model, and when the model loaded is not the one scanned
/// (its sha256 differs); `checked.scan` then stays as the scan left it.
void load_scanned(CheckedModel& checked, const std::filesystem::path& path, const c10::Device& device,
                  const ScanPolicy& policy, const HostSettings& settings);

/// The finding for a failed worker, with the policy's action for the isolation severity.
Finding failure_finding(const WorkerFailure& e, const ScanPolicy& policy, Severity severity);

/// For commands that use one model (inspect, fingerprint, compare): scans and loads it in a
/// confined worker that may read `read_paths` too, prints the findings on stderr, and returns
/// nullopt when the scan blocks it (the command then exits 2).
std::optional<ModelHost> load_for_command(const std::string& path, const c10::Device& device,
                                          const std::vector<std::filesystem::path>& read_paths = {});

}  // namespace modelgate::engine
