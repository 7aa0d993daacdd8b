#include "engine/runner.h"

#include "engine/benchmark_summary.h"
#include "engine/dataset.h"
#include "engine/device.h"
#include "engine/errors.h"
#include "engine/evaluate_model.h"
#include "engine/findings.h"
#include "engine/guarded_load.h"
#include "engine/model_host.h"
#include "engine/model.h"
#include "engine/model_keys.h"
#include "engine/monitoring.h"
#include "engine/permissions.h"
#include "engine/preflight.h"
#include "engine/work_estimate.h"
#include "engine/regression.h"
#include "engine/report/files.h"
#include "engine/report/history.h"
#include "engine/report/json_report.h"
#include "fingerprint/hashing.h"
#include "kernels/ops.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <sys/resource.h>

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

// Each model's normalisation has one value per channel of the samples, and a model whose entry
// gives its input shape gets samples of that shape: a one-line error before anything runs.
void check_models_fit(const JobConfig& job, const Dataset& data) {
  const auto shape = data.sample_shape();
  for (const auto& m : job.models) {
    if (m.normalize && static_cast<int64_t>(m.normalize->mean.size()) != shape[0])
      throw InputError(fmt::format("{}: model '{}': normalize gives {} channel(s), the samples of {} have {}", job.file.string(),
                                   m.name, m.normalize->mean.size(), data.path.string(), shape[0]));
    if (!m.input_shape.empty() && m.input_shape != shape)
      throw InputError(fmt::format("{}: model '{}': inputShape is [{}], the samples of {} are [{}]{}", job.file.string(), m.name,
                                   fmt::join(m.input_shape, ", "), data.path.string(), fmt::join(shape, ", "),
                                   data.format == data::Format::imagefolder ? " (set spec.dataset.resize and centerCrop)" : ""));
  }
}

DatasetSummary dataset_summary(const JobConfig& job, const Dataset& data, const c10::Device& device) {
  DatasetSummary s;
  s.path = data.path.string();
  s.samples = data.size();
  s.input_shape = data.sample_shape();
  s.batch_size = job.batch_size;
  s.format = data::to_string(data.format);
  s.storage = data.storage();
  s.file_samples = data.file_samples();
  const auto& spec = job.dataset;
  const int64_t pool = spec.limit ? std::min(*spec.limit, data.file_samples()) : data.file_samples();
  if (spec.sample) s.selection = fmt::format("{} drawn with seed {} from {}", data.size(), spec.sample->seed, pool == data.file_samples() ? "all" : fmt::format("the first {}", pool));
  else if (spec.limit) s.selection = fmt::format("the first {}", data.size());
  s.skipped_files = data.skipped_names;
  if (data.format == data::Format::corrupted_npy && data.has_clean_samples) s.clean = data.clean_path.string();
  s.batch_auto = job.batch_auto;
  if (job.batch_auto) s.memory_budget = static_cast<int64_t>(batch_memory_budget(job, device));
  s.peak_rss_bytes = peak_rss_bytes();
  return s;
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
  // The key of each encrypted model, before anything is loaded: a model without one is exit 3.
  const auto keys = model_keys(job);
  auto key_files = options.key_files;
  for (const auto& k : keys)
    if (k) key_files.push_back(k->file());
  if (key_files.size() > options.key_files.size()) {
    // Decrypted models are in this process's memory while they are scanned: no core dump may hold one.
    const struct rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
  }
  std::optional<JobResult> baseline;
  auto baseline_info = find_baseline(job, options, baseline);
  const auto benchmark_baseline = read_benchmark_baseline(job);
  const Dataset data = open_dataset(job.dataset);
  check_models_fit(job, data);
  // Each model is scanned before it is loaded; one the scan blocks is never loaded, and its
  // checks are recorded as not run.
  // Model code runs in a confined worker per model that may read the model, the job and the
  // dataset; a worker that crashes, hangs or exceeds a limit costs only its own model.
  const auto policy = ScanPolicy::from_job(job);
  HostSettings settings;
  settings.isolation = job.isolation;
  settings.read_paths = job.dataset.read_paths();
  settings.read_paths.push_back(job.file);
  settings.signal = options.signal;
  std::vector<std::optional<ModelHost>> models;
  std::vector<ModelScan> scans;
  std::vector<ModelChecks> checks;
  std::vector<std::optional<Finding>> failures;  // isolation/*: workers that crashed, hung or hit a limit
  for (size_t i = 0; i < job.models.size(); ++i) {
    auto model_settings = settings;
    model_settings.key = keys[i];
    model_settings.normalize = job.models[i].normalize;
    auto checked = scan_and_load(job.models[i].path, device, policy, model_settings);
    ModelChecks c;
    if (checked.host) {
      try {
        c = checked.host->preflight(job, data);
      } catch (const WorkerFailure& e) {
        checked.failure = failure_finding(e, policy, job.isolation.severity);
        checked.host.reset();
      }
    }
    scans.push_back(std::move(checked.scan));
    models.push_back(std::move(checked.host));
    checks.push_back(c);
    failures.push_back(std::move(checked.failure));
  }
  // What the checks ask for, against the time the job has, before any of it is spent.
  std::vector<ModelPace> paces;
  for (size_t i = 0; i < models.size(); ++i)
    if (models[i]) paces.push_back({job.models[i].name, checks[i].sample_seconds});
  if (options.check_estimate) check_work(job, data.size(), paces, options.budget_seconds ? options.budget_seconds : job.budget_seconds);

  out.tool_version = MODELGATE_VERSION;
  out.environment = current_environment();
  out.job_name = job.name;
  out.job_path = fs::absolute(job.file).string();
  out.device = device.str();
  out.seed = seed;
  out.kernels.cuda_compiled = kernels::cuda_kernels_compiled();
  for (const auto& op : kernels::operator_names()) out.kernels.backends.emplace_back(op, kernels::backend_for(op, device.type()));
  out.dataset = dataset_summary(job, data, device);
  out.manifests = job.manifests;
  out.warnings = job.warnings;

  RunResult run;
  EvaluationContext ctx{device, seed, options.progress, &stop, options.records ? &run.records : nullptr};
  for (size_t i = 0; i < models.size(); ++i) {
    const auto& scan = scans[i];
    const auto not_run = [&](const std::string& reason) {
      ModelResult r;
      r.name = job.models[i].name;
      r.path = job.models[i].path.string();
      r.sha256 = scan.sha256;
      r.encryption = scan.encryption;
      r.normalize = job.models[i].normalize;
      r.scan = scan.summary;
      r.findings = scan.findings;
      if (failures[i]) r.findings.push_back(*failures[i]);
      r.skipped = all_checks_skipped(job, reason);
      out.models.push_back(std::move(r));
    };
    if (failures[i]) {
      not_run(failures[i]->message);
      continue;
    }
    if (!models[i] || stop.job_stopped()) {  // blocked, or not reached: every check skipped
      not_run(models[i] ? *stop.reason("")
              : scan.summary.loaded ? "blocked by the graph check after the load"
                                    : "blocked by the scan before the load");
      continue;
    }
    std::map<std::string, double> spent;
    ctx.batch_size = checks[i].batch_size;
    try {
      auto r = models[i]->evaluate(job, data, job.models[i].name, checks[i], ctx, spent, stop.job_seconds_left(),
                                   stop.manifest_seconds_left());
      for (const auto& [manifest, seconds] : spent) stop.charge(manifest, seconds);
      auto findings = scan.findings;
      for (auto& f : r.findings) findings.push_back(std::move(f));
      r.findings = std::move(findings);
      r.scan = scan.summary;
      r.encryption = scan.encryption;
      r.normalize = job.models[i].normalize;
      if (job.batch_auto) r.sample_bytes = checks[i].sample_bytes;
      out.models.push_back(std::move(r));
    } catch (const WorkerFailure& e) {
      failures[i] = failure_finding(e, policy, job.isolation.severity);
      not_run(e.what());
    }
    models[i].reset();  // the worker exits: its memory is not held while the next model runs
  }

  attach_benchmark_summaries(job, benchmark_baseline, out.models);
  out.permissions = check_permissions(job, key_files);
  for (auto& [model, f] : permission_findings(job, out.permissions)) {
    // A named copy: lambdas capture structured bindings only from C++20 (clang refuses in C++17).
    const auto& name = model;
    auto it = std::find_if(out.models.begin(), out.models.end(), [&](const ModelResult& m) { return m.name == name; });
    (it == out.models.end() ? out.job_findings : it->findings).push_back(std::move(f));
  }
  out.interrupted = stop.signal_name();
  int64_t skipped = 0;
  for (size_t i = 0; i < out.models.size(); ++i) {  // a blocked or failed model is a verdict, not a run cut short
    const auto& m = out.models[i];
    if ((!m.scan || !m.scan->blocked) && !failures[i]) skipped += static_cast<int64_t>(m.skipped.size());
  }
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
