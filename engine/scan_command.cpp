// `modelgate scan`: the scan before load, on its own, for any number of model files.
#include "engine/commands.h"

#include "engine/config.h"
#include "engine/device.h"
#include "engine/environment.h"
#include "engine/errors.h"
#include "engine/guarded_load.h"
#include "engine/model_crypto.h"
#include "engine/report/files.h"
#include "engine/report/json_report.h"
#include "engine/report/summary.h"
#include "fingerprint/hashing.h"

#include <fmt/format.h>

#include <memory>

namespace modelgate::engine {
namespace {

nlohmann::ordered_json scan_json(const std::string& path, const std::string& sha, const ModelScan& s) {
  nlohmann::ordered_json j;
  j["path"] = path;
  j["sha256"] = sha;
  if (s.encryption)
    j["encryption"] = {{"algorithm", s.encryption->algorithm}, {"keyId", s.encryption->key_id},
                       {"keyFile", s.encryption->key_file}, {"fileSha256", s.encryption->file_sha256}};
  j["format"] = s.summary.format;
  if (s.unreadable) j["unreadable"] = *s.unreadable;
  j["records"] = s.summary.records;
  j["pickles"] = s.summary.pickles;
  j["loaded"] = s.summary.loaded;
  j["graphsChecked"] = s.summary.graphs_checked;
  j["graphNodes"] = s.summary.graph_nodes;
  j["verdict"] = s.unreadable ? "unreadable" : to_string(s.verdict());
  auto findings = nlohmann::ordered_json::array();
  for (const auto& f : s.findings)
    findings.push_back({{"check", f.check}, {"severity", to_string(f.severity)}, {"action", to_string(f.action)}, {"message", f.message}});
  j["findings"] = findings;
  auto accepted = nlohmann::ordered_json::array();
  for (const auto& a : s.summary.accepted)
    accepted.push_back({{"check", a.check}, {"location", a.location}, {"message", a.message}, {"reason", a.reason}, {"manifest", a.manifest}});
  j["accepted"] = accepted;
  return j;
}

}  // namespace

int cmd_scan(const ScanArgs& args) {
  ScanPolicy policy;
  std::vector<std::filesystem::path> inputs(args.models.begin(), args.models.end());
  if (!args.job.empty()) {
    policy = ScanPolicy::from_job(load_job(args.job));
    inputs.emplace_back(args.job);
  }
  std::shared_ptr<const SymmetricKey> key;
  if (!args.key.empty()) {
    key = std::make_shared<SymmetricKey>(read_symmetric_key(args.key));
    inputs.emplace_back(args.key);
  }
  if (!args.report.empty()) check_output_path(args.report, "scan report", inputs);
  Action worst = Action::pass;
  bool unreadable = false;
  auto models = nlohmann::ordered_json::array();
  for (const auto& path : args.models) {
    // An encrypted model is decrypted in memory with --key and its plaintext scanned (and loaded).
    HostSettings settings;
    if (key && is_encrypted_model(path)) settings.key = key;
    CheckedModel checked;
    if (settings.key) {
      checked.scan = scan_encrypted_model(path, *key, policy);
    } else {
      std::error_code ec;
      const auto sha = std::filesystem::is_regular_file(path, ec) ? fingerprint::file_sha256(path) : std::string();
      checked.scan = scan_model(path, sha, policy);
    }
    auto& scan = checked.scan;
    const auto& sha = scan.sha256;
    // Only a TorchScript archive is loaded for the graph check; the rest is judged by the scan.
    if (scan.summary.format == to_string(scan::FileFormat::torchscript)) {
      try {
        load_scanned(checked, path, c10::Device(c10::kCPU), policy, settings);
        if (checked.failure) scan.findings.push_back(*checked.failure);  // a worker that crashed or hung
      } catch (const InputError& e) {
        scan.unreadable = one_line(e);  // scanned, not loadable: what the scan saw stands
      }
    }
    if (scan.unreadable) unreadable = true;
    worst = std::max(worst, scan.verdict());
    fmt::print("{}  {}, {} records, {} pickles{}\n", path, scan.unreadable ? "unreadable: " + *scan.unreadable : scan.summary.format,
               scan.summary.records, scan.summary.pickles,
               scan.summary.graphs_checked ? fmt::format(", graphs checked ({} nodes)", scan.summary.graph_nodes)
               : scan.blocked()           ? ", not loaded"
                                          : "");
    fmt::print("{}  verdict: {}\n", scan_findings_text(scan), scan.unreadable ? "unreadable" : to_string(scan.verdict()));
    models.push_back(scan_json(path, sha, scan));
  }
  if (!args.report.empty()) {
    nlohmann::ordered_json report;
    report["kind"] = "modelgate-scan";
    report["schemaVersion"] = "1";
    report["toolVersion"] = MODELGATE_VERSION;
    report["createdAt"] = utc_now_iso();
    report["environment"] = environment_json(current_environment());
    report["verdict"] = to_string(worst);
    report["models"] = models;
    write_atomically(args.report, report.dump(2) + "\n");
    fmt::print("report: {}\n", shown_path(args.report));
  }
  if (unreadable) return kInvalidInput;
  return exit_code_for(worst);
}

}  // namespace modelgate::engine
