#include "engine/report/summary.h"

#include <fmt/format.h>

namespace modelgate::engine {
namespace fs = std::filesystem;
namespace {

std::string percent(const Count& c) {
  return fmt::format("{:6.2f}%  ({}/{})", 100 * c.accuracy(), c.correct, c.total);
}

std::string attack_label(const AttackPlan& p) {
  const auto name = to_string(p.kind) + (p.kind == AttackKind::apgd ? "-" + attacks::to_string(p.loss) : "") +
                    (p.norm == attacks::Norm::l2 ? "-l2" : "");
  return fmt::format("{:<6} eps={:.4g}", name, p.epsilon) + p.settings();
}

std::string corruption_label(const CorruptionPlan& p) {
  return p.kind == CorruptionKind::gaussian_noise ? fmt::format("noise  level={:.4g}", p.level)
                                                  : fmt::format("blur   {0}x{0} sigma={1:.3g}", p.kernel, p.sigma);
}

}  // namespace

std::string shown_path(const std::string& path) {
  std::error_code ec;
  const auto rel = fs::relative(path, fs::current_path(ec), ec);
  if (ec || rel.empty() || *rel.begin() == "..") return path;
  return rel.string();
}

std::string summary_text(const JobResult& r, const std::vector<std::pair<std::string, fs::path>>& outputs) {
  std::string s = fmt::format("modelgate {} · job {} · device {} · seed {} · {} samples from {}\n", r.tool_version,
                              r.job_name, r.device, r.seed, r.dataset.samples, shown_path(r.dataset.path));
  for (const auto& m : r.models) {
    s += fmt::format("\n{}  ({}, sha256 {}…)\n", m.name, shown_path(m.path), m.sha256.substr(0, 16));
    s += fmt::format("  {:<44} {}\n", "clean accuracy", percent(m.clean));
    for (const auto& a : m.attacks)
      s += fmt::format("  {:<44} {}  {:.2f}s\n", attack_label(a.plan), percent(a.robust), a.seconds);
    for (const auto& c : m.corruptions)
      s += fmt::format("  {:<44} {}  {:.2f}s\n", corruption_label(c.plan), percent(c.score), c.seconds);
    if (m.fingerprint)
      s += fmt::format("  {:<44} root {}…  arch {}…\n", "fingerprint", m.fingerprint->root_sha256.substr(0, 12),
                       m.fingerprint->arch_sha256.substr(0, 12));
    if (m.findings.empty()) {
      s += "  findings: none\n";
    } else {
      s += fmt::format("  findings: {}\n", m.findings.size());
      for (const auto& f : m.findings)
        s += fmt::format("    [{} → {}] {}: {}\n", to_string(f.severity), to_string(f.action), f.check, f.message);
    }
  }
  if (!r.warnings.empty()) s += fmt::format("\nwarnings: {} (on stderr and in the report)\n", r.warnings.size());
  s += fmt::format("\nverdict: {} (exit {})\n", verdict_name(r.verdict()), r.exit_code());
  for (const auto& [label, path] : outputs) s += fmt::format("{}: {}\n", label, shown_path(path.string()));
  return s;
}

}  // namespace modelgate::engine
