#include "engine/model_scan.h"

#include "fingerprint/hashing.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

namespace modelgate::engine {

Action ScanPolicy::action_for(Severity s) const {
  const auto it = actions.find(s);
  return it == actions.end() ? Action::warn : it->second;
}

ScanPolicy ScanPolicy::from_job(const JobConfig& job) {
  ScanPolicy p;
  p.limits = job.scan_limits;
  p.allow = job.scan_allow;
  p.actions = job.actions;
  return p;
}

Action ModelScan::verdict() const {
  Action worst = Action::pass;
  for (const auto& f : findings) worst = std::max(worst, f.action);
  return worst;
}

void add_scan_findings(ModelScan& scan, const std::vector<scan::ScanFinding>& found, const std::string& sha256,
                       const ScanPolicy& policy) {
  for (const auto& f : found) {
    const auto check = "scan/" + f.id;
    const auto accepted = std::find_if(policy.allow.begin(), policy.allow.end(), [&](const ScanAllowance& a) {
      return a.sha256 == sha256 && (a.finding == f.id || a.finding == check);
    });
    if (accepted != policy.allow.end()) {
      scan.summary.accepted.push_back({check, f.location, f.message, accepted->reason, accepted->manifest});
      continue;
    }
    scan.findings.push_back({check, f.severity, policy.action_for(f.severity), fmt::format("{}: {}", f.location, f.message),
                             0.0, 0.0, std::nullopt});
  }
}

namespace {

ModelScan from_report(const scan::ScanReport& report, const std::string& sha256, const ScanPolicy& policy) {
  ModelScan out;
  out.sha256 = sha256;
  out.summary.format = to_string(report.format);
  out.summary.records = static_cast<int64_t>(report.records);
  out.summary.pickles = static_cast<int64_t>(report.pickles);
  out.unreadable = report.unreadable;
  add_scan_findings(out, report.findings, sha256, policy);
  return out;
}

}  // namespace

ModelScan scan_model(const std::filesystem::path& path, const std::string& sha256, const ScanPolicy& policy) {
  if (is_encrypted_model(path)) {
    ModelScan out;
    out.sha256 = sha256;
    std::ifstream in(path, std::ios::binary);
    std::string head(kEncryptedHeaderBytes, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));
    std::string id = "unknown";
    try {
      if (const auto h = parse_encrypted_header(head, path.string())) id = h->key_id;
    } catch (const std::invalid_argument&) {  // a cut-short header: the id stays unknown
    }
    out.summary.format = "encrypted model";
    out.unreadable = fmt::format("an encrypted model (key id {}): it is scanned only with its key (--key, or the job "
                                 "entry's key)", id);
    return out;
  }
  return from_report(scan::scan_file(path, policy.limits), sha256, policy);
}

ModelScan scan_encrypted_model(const std::filesystem::path& path, const SymmetricKey& key, const ScanPolicy& policy) {
  const auto decrypted = decrypt_model_file(path, key, policy.limits.total_bytes);
  const auto plain = decrypted.plaintext.view();
  auto out = from_report(scan::scan_bytes(plain, path.string(), policy.limits),
                         fingerprint::sha256_hex(plain.data(), plain.size()), policy);
  out.encryption = EncryptionInfo{kModelCipher, decrypted.key_id, key.file().string(), decrypted.file_sha256};
  return out;
}

std::string scan_findings_text(const ModelScan& scan) {
  std::string out;
  for (const auto& f : scan.findings)
    out += fmt::format("  {:<8}  {:<7}  {:<26} {}\n", to_string(f.severity), to_string(f.action), f.check, f.message);
  for (const auto& a : scan.summary.accepted)
    out += fmt::format("  accepted           {:<26} {}: {} (reason: {})\n", a.check, a.location, a.message, a.reason);
  return out;
}

}  // namespace modelgate::engine
