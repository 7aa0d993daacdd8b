#include "engine/runner.h"

#include "engine/dataset.h"
#include "engine/device.h"
#include "engine/evaluate_model.h"
#include "engine/findings.h"
#include "engine/model.h"
#include "engine/monitoring.h"
#include "engine/permissions.h"
#include "engine/preflight.h"
#include "engine/regression.h"
#include "engine/report/files.h"
#include "engine/report/history.h"
#include "engine/report/json_report.h"
#include "fingerprint/hashing.h"
#include "kernels/ops.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace modelgate::engine {
namespace fs = std::filesystem;
namespace {

// The report to compare with: the one named, or the last good night's, or none (with why).
BaselineInfo find_baseline(const JobConfig& job, const RunOptions& options, std::optional<JobResult>& baseline) {
  BaselineInfo info;
  info.max_drop = job.baseline.max_drop;
  const auto mode = options.baseline.value_or(job.baseline.report);
  if (mode == "none") {
    info.note = "no baseline comparison (baseline: none)";
    return info;
  }
  fs::path path;
  if (mode == "auto") {
    const auto found = last_good_report(job.report_location, job.name, options.report_path);
    if (!found) {
      info.note = fmt::format("no earlier complete passing report of job '{}' in {}: nothing to compare with", job.name,
                              job.report_location.string());
      return info;
    }
    path = *found;
  } else {
    path = mode;
  }
  baseline = read_report(path);  // a named baseline that cannot be read is an input error (exit 3)
  info.path = fs::absolute(path).lexically_normal().string();
  info.sha256 = fingerprint::file_sha256(path.string());
  return info;
}

void compare_with_baseline(const JobConfig& job, const JobResult& before, JobResult& now, BaselineInfo& info) {
  const auto c = compare_runs(before, now);
  info.compared = static_cast<int64_t>(c.checks.size());
  info.drops = static_cast<int64_t>(c.drops(info.max_drop).size());
  info.only_before = c.only_before;
  info.only_after = c.only_after;
  for (const auto& m : c.models_only_before) info.only_before.push_back(m + " (model)");
  for (const auto& m : c.models_only_after) info.only_after.push_back(m + " (model)");
  info.changed_sha256 = c.changed_sha256;
  for (auto& [model, f] : regression_findings(c, info.max_drop, job.baseline.severity, job.action_for(job.baseline.severity)))
    for (auto& m : now.models)
      if (m.name == model) m.findings.push_back(f);
}

}  // namespace

RunResult run_job(const JobConfig& job, const RunOptions& options) {
  JobResult out;
  out.started_at = utc_now_iso();
  const c10::Device device = resolve_device(options.device.value_or(job.device));
  const uint64_t seed = options.seed.value_or(job.seed);
  StopControl stop(options.signal);
  if (const auto b = options.budget_seconds ? options.budget_seconds : job.budget_seconds) stop.set_job_budget(*b);
  for (const auto& [manifest, seconds] : job.manifest_budgets) stop.set_manifest_budget(manifest, seconds);

  // Everything the user gave is read and cross-checked before any evaluation: a bad file
  // fails fast with exit 3, and nothing is written.
  std::optional<JobResult> baseline;
  auto baseline_info = find_baseline(job, options, baseline);
  const Dataset data = load_dataset(job.dataset);
  std::vector<LoadedModel> models;
  std::vector<ModelChecks> checks;
  for (const auto& entry : job.models) {
    models.push_back(load_model(entry.path, device));
    checks.push_back(check_model_against_data(models.back(), data, job, device));
  }

  out.tool_version = MODELGATE_VERSION;
  out.environment = current_environment();
  out.job_name = job.name;
  out.job_path = fs::absolute(job.file).string();
  out.device = device.str();
  out.seed = seed;
  out.kernels.cuda_compiled = kernels::cuda_kernels_compiled();
  for (const auto& op : kernels::operator_names()) out.kernels.backends.emplace_back(op, kernels::backend_for(op, device.type()));
  out.dataset = {data.path.string(), data.size(), data.inputs.sizes().slice(1).vec(), job.batch_size};
  out.manifests = job.manifests;
  out.warnings = job.warnings;

  RunResult run;
  EvaluationContext ctx{device, seed, options.progress, &stop, options.records ? &run.records : nullptr};
  for (size_t i = 0; i < models.size(); ++i) {
    if (stop.job_stopped()) {  // a model the run did not reach: every check skipped, nothing loaded further
      ModelResult r;
      r.name = job.models[i].name;
      r.path = models[i].path.string();
      r.sha256 = models[i].sha256;
      r.skipped = all_checks_skipped(job, *stop.reason(""));
      out.models.push_back(std::move(r));
      continue;
    }
    auto r = evaluate_model(job, job.models[i].name, models[i], data, ctx);
    r.findings = derive_findings(job, r, checks[i]);
    for (auto& f : monitoring_findings(job, r)) r.findings.push_back(std::move(f));
    out.models.push_back(std::move(r));
  }

  out.permissions = check_permissions(job, options.key_files);
  for (auto& [model, f] : permission_findings(job, out.permissions)) {
    auto it = std::find_if(out.models.begin(), out.models.end(), [&](const ModelResult& m) { return m.name == model; });
    (it == out.models.end() ? out.job_findings : it->findings).push_back(std::move(f));
  }
  out.interrupted = stop.signal_name();
  int64_t skipped = 0;
  for (const auto& m : out.models) skipped += static_cast<int64_t>(m.skipped.size());
  out.complete = skipped == 0 && !out.interrupted;
  // A budget that ran out is a finding: the figures the job asked for are not all there.
  std::vector<std::string> budgets;
  if (stop.job_budget_exceeded()) budgets.push_back("the job");
  for (const auto& m : stop.exhausted_manifests()) budgets.push_back(fmt::format("manifest '{}'", m));
  if (skipped > 0 && !out.interrupted && !budgets.empty())
    out.job_findings.push_back({"budget/exceeded", job.budget_severity, job.action_for(job.budget_severity),
                                fmt::format("the time budget of {} ran out: {} check(s) were not run and are listed as "
                                            "skipped",
                                            fmt::join(budgets, " and of "), skipped),
                                static_cast<double>(skipped), 0.0, std::nullopt});
  if (baseline) compare_with_baseline(job, *baseline, out, baseline_info);
  out.baseline = baseline_info;
  out.finished_at = utc_now_iso();
  run.result = std::move(out);
  return run;
}

}  // namespace modelgate::engine
