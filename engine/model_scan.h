#pragma once
// The scan before load in the job's terms: findings as scan/<id> with the actions of
// ModelVulnerabilityScanning spec.severity, and the findings spec.allow accepts for one exact file.
#include "engine/config.h"
#include "engine/model_crypto.h"
#include "engine/results.h"
#include "engine/scan/scan.h"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace modelgate::engine {

/// Limits, accepted findings and severity → action of a run.
struct ScanPolicy {
  scan::ScanLimits limits;
  std::vector<ScanAllowance> allow;
  std::map<Severity, Action> actions{{Severity::critical, Action::block}, {Severity::high, Action::review}};
  Action action_for(Severity s) const;
  /// The policy of a job file.
  static ScanPolicy from_job(const JobConfig& job);
};

/// One model's scan, ready for the report.
struct ModelScan {
  std::string sha256;                      ///< of the bytes scanned (an encrypted file: its plaintext)
  std::optional<EncryptionInfo> encryption;  ///< set when the file was decrypted in memory to be scanned
  ScanSummary summary;
  std::vector<Finding> findings;           ///< scan/<id>, without the accepted ones
  std::optional<std::string> unreadable;   ///< why the file could not be scanned
  /// The worst action among the findings (pass when there are none).
  Action verdict() const;
  bool blocked() const { return verdict() == Action::block; }
};

/// Scans `path` (whose digest is `sha256`) with `policy`. An encrypted model comes back
/// unreadable, saying which key it needs.
ModelScan scan_model(const std::filesystem::path& path, const std::string& sha256, const ScanPolicy& policy);

/// Decrypts the encrypted model `path` with `key` in memory and scans the plaintext; the
/// plaintext is wiped before this returns and never touches the disk. `sha256` is the
/// plaintext's (spec.allow matches it). InputError for a wrong key, an altered or truncated
/// file, or a plaintext over policy.limits.total_bytes.
ModelScan scan_encrypted_model(const std::filesystem::path& path, const SymmetricKey& key, const ScanPolicy& policy);

/// Adds findings found later (the graph check after the load) to `scan`, with the same policy.
void add_scan_findings(ModelScan& scan, const std::vector<scan::ScanFinding>& found, const std::string& sha256,
                       const ScanPolicy& policy);

/// The findings as terminal lines: "  critical  code/setstate  m/code/__torch__.py:22  ...".
std::string scan_findings_text(const ModelScan& scan);

}  // namespace modelgate::engine
