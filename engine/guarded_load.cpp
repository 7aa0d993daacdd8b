#include "engine/guarded_load.h"

#include "engine/errors.h"
#include "fingerprint/hashing.h"

#include <fmt/format.h>

namespace modelgate::engine {

CheckedModel scan_and_load(const std::filesystem::path& path, const c10::Device& device, const ScanPolicy& policy,
                           const HostSettings& settings) {
  CheckedModel out;
  if (settings.key) {
    out.scan = scan_encrypted_model(path, *settings.key, policy);
  } else {
    std::error_code ec;
    const auto sha = std::filesystem::is_regular_file(path, ec) ? fingerprint::file_sha256(path.string()) : std::string();
    out.scan = scan_model(path, sha, policy);
  }
  load_scanned(out, path, device, policy, settings);
  return out;
}

void load_scanned(CheckedModel& out, const std::filesystem::path& path, const c10::Device& device,
                  const ScanPolicy& policy, const HostSettings& settings) {
  out.scan.summary.blocked = out.scan.blocked();
  if (out.scan.blocked()) return;
  auto s = settings;
  s.graph_node_limit = policy.limits.graph_nodes;
  s.max_model_bytes = policy.limits.total_bytes;
  std::optional<ModelHost> opened;
  try {
    opened = ModelHost::open(path, device, s);  // an unreadable file fails here (InputError), as before the scan
  } catch (const WorkerFailure& e) {
    out.scan.summary.loaded = true;
    out.failure = failure_finding(e, policy, settings.isolation.severity);
    return;
  }
  auto& host = *opened;
  // What was scanned is what was loaded: a file replaced in between is refused.
  if (!out.scan.sha256.empty() && host.sha256() != out.scan.sha256)
    throw InputError(fmt::format("{}: the model changed between the scan and the load (sha256 {}… scanned, {}… loaded)",
                                 path.string(), out.scan.sha256.substr(0, 16), host.sha256().substr(0, 16)));
  out.scan.summary.loaded = true;
  out.scan.summary.graphs_checked = true;
  out.scan.summary.graph_nodes = host.graphs().nodes;
  out.scan.summary.isolation = host.isolation();
  add_scan_findings(out.scan, host.graphs().findings, host.sha256(), policy);
  out.scan.summary.blocked = out.scan.blocked();
  if (!out.scan.blocked()) out.host = std::move(host);
}

Finding failure_finding(const WorkerFailure& e, const ScanPolicy& policy, Severity severity) {
  return {e.check, severity, policy.action_for(severity), e.what(), 0.0, 0.0, std::nullopt};
}

std::optional<ModelHost> load_for_command(const std::string& path, const c10::Device& device,
                                          const std::vector<std::filesystem::path>& read_paths) {
  HostSettings settings;
  settings.read_paths = read_paths;
  auto checked = scan_and_load(path, device, ScanPolicy{}, settings);
  if (!checked.scan.findings.empty()) {
    fmt::print(stderr, "modelgate: {}: the scan found:\n{}", path, scan_findings_text(checked.scan));
    if (checked.scan.blocked())
      fmt::print(stderr, "modelgate: {}: blocked {}\n", path,
                 checked.scan.summary.loaded ? "by the graph check after the load; no forward was run"
                                             : "by the scan before the load; none of its code was run");
  }
  if (checked.failure) {
    fmt::print(stderr, "modelgate: {}: {}\nmodelgate: {}: blocked: the model's code crashed, hung or exceeded a limit\n", path,
               checked.failure->message, path);
    return std::nullopt;
  }
  return std::move(checked.host);
}

}  // namespace modelgate::engine
