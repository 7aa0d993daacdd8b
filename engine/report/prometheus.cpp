#include "engine/report/prometheus.h"

#include "engine/report/files.h"

#include <fmt/format.h>

#include <map>
#include <utility>

namespace modelgate::engine {
namespace {

// Label values escape backslash, double quote and newline (the exposition format's rules).
std::string escaped(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string series(const std::string& name, const Labels& labels, double value) {
  std::string s = name + "{";
  for (size_t i = 0; i < labels.size(); ++i)
    s += fmt::format("{}{}=\"{}\"", i ? "," : "", labels[i].first, escaped(labels[i].second));
  // fmt's shortest form that reads back as the same double (0.98, not 0.97999999999999998).
  return s + fmt::format("}} {}\n", value);
}

std::string header(const std::string& name, const std::string& help) {
  return fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
}

std::string attack_name(const AttackPlan& p) {
  return p.kind == AttackKind::apgd ? "apgd-" + attacks::to_string(p.loss) : to_string(p.kind);
}

}  // namespace

std::string prometheus_text(const JobResult& r) {
  const std::string job = r.job_name;
  std::string out;
  out += header("modelgate_clean_accuracy", "Share of samples the model classifies correctly without perturbation.");
  for (const auto& m : r.models)  // 0 of 0 is no figure (not run, or no clean samples), not an accuracy of 0
    if (m.clean.total > 0) out += series("modelgate_clean_accuracy", {{"job", job}, {"model", m.name}}, m.clean.accuracy());

  out += header("modelgate_robust_accuracy",
                "Share of samples correct clean and at every evaluated iterate of the attack.");
  for (const auto& m : r.models) {
    std::vector<Labels> labels;
    std::map<Labels, int> seen, numbered;
    for (const auto& a : m.attacks) {
      labels.push_back({{"job", job}, {"model", m.name}, {"attack", attack_name(a.plan)},
                        {"norm", attacks::to_string(a.plan.norm)}, {"epsilon", number_text(a.plan.epsilon)},
                        {"steps", std::to_string(a.plan.steps)}});
      ++seen[labels.back()];
    }
    for (size_t i = 0; i < m.attacks.size(); ++i) {
      const auto& p = m.attacks[i].plan;
      auto l = labels[i];
      if (seen[l] > 1) {
        // Plans equal in every setting are numbered: a repeated entry in the job file.
        const auto settings = p.settings();
        l.emplace_back("variant", settings.empty() ? "" : settings.substr(1));
        if (++numbered[l] > 1) l.back().second += fmt::format(" #{}", numbered[l]);
      }
      out += series("modelgate_robust_accuracy", l, m.attacks[i].robust.accuracy());
    }
  }

  out += header("modelgate_corruption_accuracy", "Share of samples the model classifies correctly under the corruption.");
  for (const auto& m : r.models)
    for (const auto& c : m.corruptions) {
      const bool stored = c.plan.kind == CorruptionKind::stored, benchmark = c.plan.kind == CorruptionKind::benchmark;
      const auto level = stored || benchmark ? std::to_string(c.plan.corruption_severity)
                         : c.plan.kind == CorruptionKind::gaussian_noise
                             ? number_text(c.plan.level)
                             : fmt::format("{0}x{0} sigma={1:.3g}", c.plan.kernel, c.plan.sigma);
      const auto corruption = stored ? "stored/" + c.plan.name : benchmark ? c.plan.name : to_string(c.plan.kind);
      out += series("modelgate_corruption_accuracy",
                    {{"job", job}, {"model", m.name}, {"corruption", corruption}, {"level", level}},
                    c.score.accuracy());
    }

  out += header("modelgate_corruption_mce",
                "The corruption benchmark's mean corruption error against the baseline model (1 = as the baseline).");
  for (const auto& m : r.models)
    if (m.benchmark && m.benchmark->mce)
      out += series("modelgate_corruption_mce", {{"job", job}, {"model", m.name}}, *m.benchmark->mce);
  out += header("modelgate_corruption_mean_error", "The corruption benchmark's unnormalised mean error over its entries.");
  for (const auto& m : r.models)
    if (m.benchmark && m.benchmark->mean_error)
      out += series("modelgate_corruption_mean_error", {{"job", job}, {"model", m.name}}, *m.benchmark->mean_error);

  out += header("modelgate_findings", "Findings of the run by severity and the action it maps to (model \"\": the job's own).");
  auto findings = [&](const std::string& model, const std::vector<Finding>& list) {
    for (auto sev : {Severity::critical, Severity::high, Severity::medium, Severity::low})
      for (auto act : {Action::block, Action::review, Action::warn, Action::pass}) {
        int n = 0;
        for (const auto& f : list) n += f.severity == sev && f.action == act;
        out += series("modelgate_findings",
                      {{"job", job}, {"model", model}, {"severity", to_string(sev)}, {"action", to_string(act)}}, n);
      }
  };
  for (const auto& m : r.models) findings(m.name, m.findings);
  findings("", r.job_findings);

  out += header("modelgate_skipped_checks", "Checks not run (a time budget ran out or a signal stopped the run).");
  for (const auto& m : r.models)
    out += series("modelgate_skipped_checks", {{"job", job}, {"model", m.name}}, static_cast<double>(m.skipped.size()));
  bool inference = false, resources = false;
  for (const auto& m : r.models) inference |= m.inference.has_value(), resources |= m.resources.has_value();
  if (inference) {
    out += header("modelgate_inference_latency_seconds", "Batch-1 forward latency quantiles (InferenceMonitoring).");
    for (const auto& m : r.models)
      if (m.inference)
        for (const auto& [q, v] : {std::pair{"0.5", m.inference->single.p50_ms}, std::pair{"0.95", m.inference->single.p95_ms},
                                   std::pair{"0.99", m.inference->single.p99_ms}})
          out += series("modelgate_inference_latency_seconds", {{"job", job}, {"model", m.name}, {"quantile", q}}, v / 1000);
    out += header("modelgate_inference_throughput_samples_per_second", "Samples per second of the clean pass.");
    for (const auto& m : r.models)
      if (m.inference)
        out += series("modelgate_inference_throughput_samples_per_second", {{"job", job}, {"model", m.name}},
                      m.inference->throughput);
    out += header("modelgate_inference_error_rate", "Share of forward passes with non-finite outputs or an error.");
    for (const auto& m : r.models)
      if (m.inference)
        out += series("modelgate_inference_error_rate", {{"job", job}, {"model", m.name}}, m.inference->error_rate());
  }
  if (resources) {
    out += header("modelgate_peak_rss_bytes", "Peak resident memory while the model was evaluated (ResourceMonitoring).");
    for (const auto& m : r.models)
      if (m.resources)
        out += series("modelgate_peak_rss_bytes", {{"job", job}, {"model", m.name}}, static_cast<double>(m.resources->peak_rss_bytes));
    out += header("modelgate_cpu_share", "CPU time over wall time and usable cores while the model was evaluated.");
    for (const auto& m : r.models)
      if (m.resources) out += series("modelgate_cpu_share", {{"job", job}, {"model", m.name}}, m.resources->cpu_share());
  }

  out += header("modelgate_complete", "1 when every check the job asks for ran, 0 for a partial report.");
  out += series("modelgate_complete", {{"job", job}}, r.complete ? 1 : 0);
  out += header("modelgate_run_seconds", "Wall-clock seconds the validation run took.");
  out += series("modelgate_run_seconds", {{"job", job}}, r.run_seconds());
  out += header("modelgate_last_run_timestamp_seconds", "Unix time at which the run finished.");
  out += series("modelgate_last_run_timestamp_seconds", {{"job", job}}, epoch_seconds(r.finished_at).value_or(0));
  out += header("modelgate_verdict", "The run's verdict as its exit code: 0 pass, 1 review, 2 block.");
  out += series("modelgate_verdict", {{"job", job}}, r.exit_code());
  return out;
}

}  // namespace modelgate::engine
