#include "engine/report/summary.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

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
  switch (p.kind) {
    case CorruptionKind::gaussian_noise: return fmt::format("noise  level={:.4g}", p.level);
    case CorruptionKind::gaussian_blur: return fmt::format("blur   {0}x{0} sigma={1:.3g}", p.kernel, p.sigma);
    case CorruptionKind::benchmark:
      return fmt::format("{} severity={}{}", p.name, p.corruption_severity,
                         p.table ? fmt::format(" ({})", corruptions::to_string(*p.table)) : "");
    case CorruptionKind::stored: break;
  }
  return fmt::format("{} severity={} (stored)", p.name, p.corruption_severity);
}

// "corruption benchmark  mCE 93.1%, relative mCE 88.0% (against model base); mean error 41.2%
// (11 of 15 corruptions)".
std::string benchmark_line(const BenchmarkSummary& b) {
  int in_mean = 0;
  for (const auto& r : b.rows) in_mean += r.in_mean;
  std::string figures;
  if (b.mce) figures += fmt::format("mCE {:.1f}%", 100 * *b.mce);
  if (b.relative_mce) figures += fmt::format(", relative mCE {:.1f}%", 100 * *b.relative_mce);
  if (!b.baseline.empty()) figures += fmt::format(" (against {})", b.baseline);
  if (b.mean_error) figures += fmt::format("{}mean error {:.1f}%", figures.empty() ? "" : "; ", 100 * *b.mean_error);
  return fmt::format("  {:<44} {}{}\n", "corruption benchmark", figures,
                     b.complete ? "" : fmt::format(" ({} of 15 corruptions{})", in_mean, in_mean == 15 ? ", not every severity" : ""));
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
    s += fmt::format("\n{}  ({}, sha256 {}…{})\n", m.name, shown_path(m.path), m.sha256.substr(0, 16),
                     m.encryption ? fmt::format(", encrypted, key id {}", m.encryption->key_id) : "");
    const bool blocked = m.scan && m.scan->blocked;
    if (blocked)
      s += fmt::format("  not run: blocked by the {} ({} checks skipped)\n",
                       m.scan->loaded ? "graph check after the load" : "scan before the load", m.skipped.size());
    else if (r.dataset.format == "corrupted-npy" && !r.dataset.clean)
      s += fmt::format("  {:<44} none: the corrupted-npy set has no spec.dataset.clean\n", "clean accuracy");
    else
      s += fmt::format("  {:<44} {}\n", "clean accuracy", percent(m.clean));
    for (const auto& a : m.attacks)
      s += fmt::format("  {:<44} {}  {:.2f}s\n", attack_label(a.plan), percent(a.robust), a.seconds);
    for (const auto& c : m.corruptions)
      s += fmt::format("  {:<44} {}  {:.2f}s\n", corruption_label(c.plan), percent(c.score), c.seconds);
    if (m.benchmark) s += benchmark_line(*m.benchmark);
    if (m.fingerprint)
      s += fmt::format("  {:<44} root {}…  arch {}…\n", "fingerprint", m.fingerprint->root_sha256.substr(0, 12),
                       m.fingerprint->arch_sha256.substr(0, 12));
    if (m.inference) {
      const auto& f = *m.inference;
      s += fmt::format("  {:<44} batch-1 p50 {:.2f} ms  p95 {:.2f} ms  p99 {:.2f} ms\n", "inference latency", f.single.p50_ms,
                       f.single.p95_ms, f.single.p99_ms);
      s += fmt::format("  {:<44} {:.0f} samples/s at batch {}, batch p99 {:.2f} ms, errors {}/{}\n", "inference throughput",
                       f.throughput, r.dataset.batch_size, f.batch.p99_ms, f.failed_batches, f.batches);
    }
    if (m.resources) {
      const auto& u = *m.resources;
      s += fmt::format("  {:<44} peak RSS {:.0f} MiB ({:.1f}% of memory), CPU {:.0f}% of {} cores{}\n", "resources",
                       u.peak_rss_bytes / 1048576.0, 100 * u.memory_share(), 100 * u.cpu_share(), u.cores,
                       u.gpu_share() ? fmt::format(", GPU {:.1f}%", 100 * *u.gpu_share()) : "");
    }
    if (!m.skipped.empty() && !blocked) {
      s += fmt::format("  skipped: {}\n", m.skipped.size());
      for (const auto& k : m.skipped) s += fmt::format("    {}: {}\n", k.description, k.reason);
    }
    if (m.findings.empty()) {
      s += "  findings: none\n";
    } else {
      s += fmt::format("  findings: {}\n", m.findings.size());
      for (const auto& f : m.findings)
        s += fmt::format("    [{} → {}] {}: {}\n", to_string(f.severity), to_string(f.action), f.check, f.message);
    }
    if (m.scan && !m.scan->accepted.empty()) {
      s += fmt::format("  accepted by the job: {}\n", m.scan->accepted.size());
      for (const auto& a : m.scan->accepted) s += fmt::format("    {} at {} ({}: {})\n", a.check, a.location, a.manifest, a.reason);
    }
  }
  if (!r.job_findings.empty()) {
    s += fmt::format("\njob findings: {}\n", r.job_findings.size());
    for (const auto& f : r.job_findings)
      s += fmt::format("    [{} → {}] {}: {}\n", to_string(f.severity), to_string(f.action), f.check, f.message);
  }
  if (r.baseline) {
    const auto& b = *r.baseline;
    s += b.path ? fmt::format("\nbaseline: {} ({} checks compared, {} dropped by more than {:.2f} points{})\n",
                              shown_path(*b.path), b.compared, b.drops, 100 * b.max_drop,
                              b.changed_sha256.empty() ? "" : "; model files changed: " + fmt::format("{}", fmt::join(b.changed_sha256, ", ")))
                : fmt::format("\nbaseline: {}\n", b.note);
  }
  if (!r.warnings.empty()) s += fmt::format("\nwarnings: {} (on stderr and in the report)\n", r.warnings.size());
  if (!r.complete)
    s += fmt::format("\nthe report is incomplete: {}\n",
                     r.interrupted ? fmt::format("the run was interrupted by {}", *r.interrupted)
                                   : std::string("a time budget ran out (see the skipped checks)"));
  s += fmt::format("\nverdict: {} (exit {})\n", verdict_name(r.verdict()), r.exit_code());
  for (const auto& [label, path] : outputs) s += fmt::format("{}: {}\n", label, shown_path(path.string()));
  return s;
}

}  // namespace modelgate::engine
