#include "engine/report/json_report.h"

#include <fmt/format.h>


namespace modelgate::engine {
namespace {

using Json = nlohmann::ordered_json;

template <typename T>
Json optional_json(const std::optional<T>& v) {
  return v ? Json(*v) : Json();
}

Json finding_json(const Finding& f) {
  Json j{{"check", f.check},     {"severity", to_string(f.severity)}, {"action", to_string(f.action)},
         {"message", f.message}, {"observed", f.observed},            {"threshold", f.threshold}};
  if (f.baseline) j["baseline"] = *f.baseline;
  return j;
}

Json target_json(const AttackPlan& p) {
  switch (p.target) {
    case attacks::Target::none: return nullptr;
    case attacks::Target::label: return p.target_label;
    case attacks::Target::least_likely: return "leastLikely";
    case attacks::Target::random: return "random";
  }
  return nullptr;
}

Json attack_json(const AttackOutcome& a) {
  const auto& p = a.plan;
  return {{"attack", to_string(p.kind)},
          {"manifest", p.manifest},
          {"norm", attacks::to_string(p.norm)},
          {"loss", p.kind == AttackKind::apgd ? Json(attacks::to_string(p.loss)) : Json()},
          {"epsilon", p.epsilon},
          {"steps", p.steps},
          {"stepSize", p.step_size},
          {"randomStart", p.random_start},
          {"restarts", p.restarts},
          {"target", target_json(p)},
          {"activeSet", p.active_set},
          {"correct", a.robust.correct},
          {"total", a.robust.total},
          {"robustAccuracy", a.robust.accuracy()},
          {"lastIterateCorrect", optional_json(a.last_correct)},
          {"targetSuccessRate", optional_json(a.target_success_rate)},
          {"zeroGradientFraction", a.zero_gradient_fraction},
          {"seconds", a.seconds}};
}

Json corruption_json(const CorruptionOutcome& c) {
  Json j{{"corruption", to_string(c.plan.kind)}, {"manifest", c.plan.manifest}};
  if (c.plan.kind == CorruptionKind::stored || c.plan.kind == CorruptionKind::benchmark) {
    j["name"] = c.plan.name;
    j["severity"] = c.plan.corruption_severity;
    if (c.plan.table) j["parameters"] = corruptions::to_string(*c.plan.table);
  } else if (c.plan.kind == CorruptionKind::gaussian_noise) {
    j["level"] = c.plan.level;
  } else {
    j["kernel"] = c.plan.kernel;
    j["sigma"] = c.plan.sigma;
  }
  j["correct"] = c.score.correct;
  j["total"] = c.score.total;
  j["accuracy"] = c.score.accuracy();
  j["seconds"] = c.seconds;
  return j;
}

// Keys in alphabetical order: the form reports have always had (the summary came from a
// sorted JSON object).
Json fingerprint_json(const FingerprintSummary& f) {
  const auto& p = f.probes;
  const auto boundary_sha = p.boundary.sha256.empty() ? fingerprint::boundary_sha256(p.boundary) : p.boundary.sha256;
  return {{"archSha256", f.arch_sha256},
          {"layers", f.layers},
          {"parameterCount", f.parameter_count},
          {"probes",
           {{"boundary",
             {{"count", p.boundary.count}, {"epsilon", p.boundary.epsilon}, {"sha256", boundary_sha}, {"steps", p.boundary.steps}}},
            {"dataPath", p.data_path},
            {"dataSha256", p.data_sha256},
            {"inputShape", p.input_shape},
            {"real", p.real},
            {"seed", p.seed},
            {"synthetic", p.synthetic}}},
          {"rootSha256", f.root_sha256}};
}

Json latency_json(const LatencyStats& l) {
  return {{"count", l.count}, {"meanMs", l.mean_ms}, {"p50Ms", l.p50_ms}, {"p95Ms", l.p95_ms}, {"p99Ms", l.p99_ms},
          {"maxMs", l.max_ms}};
}

Json monitoring_json(const ModelResult& m) {
  Json inference, resources;
  if (m.inference) {
    const auto& f = *m.inference;
    inference = {{"manifest", f.manifest},           {"batch", latency_json(f.batch)},
                 {"single", latency_json(f.single)}, {"throughput", f.throughput},
                 {"batches", f.batches},             {"failedBatches", f.failed_batches},
                 {"errorRate", f.error_rate()}};
  }
  if (m.resources) {
    const auto& r = *m.resources;
    resources = {{"manifest", r.manifest},
                 {"peakRssBytes", r.peak_rss_bytes},
                 {"memoryTotalBytes", r.memory_total_bytes},
                 {"memoryShare", r.memory_share()},
                 {"cpuSeconds", r.cpu_seconds},
                 {"wallSeconds", r.wall_seconds},
                 {"cores", r.cores},
                 {"cpuShare", r.cpu_share()},
                 {"gpuPeakBytes", optional_json(r.gpu_peak_bytes)},
                 {"gpuTotalBytes", optional_json(r.gpu_total_bytes)},
                 {"gpuShare", optional_json(r.gpu_share())}};
  }
  return {{"inference", std::move(inference)}, {"resources", std::move(resources)}};
}

Json skipped_json(const SkippedCheck& k) {
  return {{"section", k.section}, {"check", k.check}, {"description", k.description}, {"manifest", k.manifest},
          {"reason", k.reason}};
}

Json baseline_json(const BaselineInfo& b) {
  return {{"path", optional_json(b.path)}, {"sha256", b.path ? Json(b.sha256) : Json()}, {"maxDrop", b.max_drop},
          {"note", b.note},                {"compared", b.compared},                     {"drops", b.drops},
          {"onlyBefore", b.only_before},   {"onlyAfter", b.only_after},                  {"changedSha256", b.changed_sha256}};
}

Json permission_json(const PermissionCheck& c) {
  return {{"path", c.path}, {"manifest", c.manifest}, {"exists", c.exists}, {"mode", fmt::format("{:04o}", c.mode)},
          {"allowed", fmt::format("{:04o}", c.allowed)}, {"ok", c.ok()}};
}

Json scan_json(const ScanSummary& s) {
  Json accepted = Json::array();
  for (const auto& a : s.accepted)
    accepted.push_back({{"check", a.check}, {"location", a.location}, {"message", a.message}, {"reason", a.reason},
                        {"manifest", a.manifest}});
  Json isolation;
  if (s.isolation)
    isolation = {{"process", s.isolation->process}, {"landlock", s.isolation->landlock}, {"seccomp", s.isolation->seccomp},
                 {"memory", s.isolation->memory}, {"cpu", s.isolation->cpu}, {"timeouts", s.isolation->timeouts}};
  return {{"format", s.format},   {"records", s.records},          {"pickles", s.pickles},
          {"loaded", s.loaded},   {"blocked", s.blocked},          {"graphsChecked", s.graphs_checked},
          {"graphNodes", s.graph_nodes}, {"accepted", std::move(accepted)}, {"isolation", std::move(isolation)}};
}

Json benchmark_json(const BenchmarkSummary& b) {
  Json rows = Json::array();
  for (const auto& r : b.rows)
    rows.push_back({{"name", r.name}, {"inMean", r.in_mean}, {"severities", r.severities}, {"errors", r.errors},
                    {"ce", optional_json(r.ce)}, {"relativeCe", optional_json(r.relative_ce)}});
  return {{"baseline", b.baseline.empty() ? Json() : Json(b.baseline)},
          {"cleanError", optional_json(b.clean_error)},
          {"baselineCleanError", optional_json(b.baseline_clean_error)},
          {"mce", optional_json(b.mce)},
          {"relativeMce", optional_json(b.relative_mce)},
          {"meanError", optional_json(b.mean_error)},
          {"complete", b.complete},
          {"corruptions", std::move(rows)}};
}

Json model_json(const ModelResult& m) {
  Json adversarial = Json::array(), robustness = Json::array(), findings = Json::array();
  for (const auto& a : m.attacks) adversarial.push_back(attack_json(a));
  for (const auto& c : m.corruptions) robustness.push_back(corruption_json(c));
  for (const auto& f : m.findings) findings.push_back(finding_json(f));
  Json skipped = Json::array();
  for (const auto& k : m.skipped) skipped.push_back(skipped_json(k));
  Json j{{"name", m.name}, {"path", m.path}, {"sha256", m.sha256}};
  // Only an encrypted model has the key: reports of plain models keep the shape they always had.
  j["normalize"] = m.normalize ? Json{{"mean", m.normalize->mean}, {"std", m.normalize->std}} : Json();
  j["batchSize"] = m.batch_size;
  j["sampleBytes"] = optional_json(m.sample_bytes);
  Json retries = Json::array();
  for (const auto& b : m.batch_retries)
    retries.push_back({{"check", b.check}, {"first", b.first}, {"from", b.from}, {"to", b.to}, {"reason", b.reason}});
  j["batchRetries"] = std::move(retries);
  if (m.encryption)
    j["encryption"] = {{"algorithm", m.encryption->algorithm}, {"keyId", m.encryption->key_id},
                       {"keyFile", m.encryption->key_file}, {"fileSha256", m.encryption->file_sha256}};
  j["clean"] = {{"correct", m.clean.correct}, {"total", m.clean.total}, {"accuracy", m.clean.accuracy()}};
  j["adversarial"] = std::move(adversarial);
  j["robustness"] = std::move(robustness);
  if (m.benchmark) j["corruptionBenchmark"] = benchmark_json(*m.benchmark);
  j["fingerprint"] = m.fingerprint ? fingerprint_json(*m.fingerprint) : Json();
  j["monitoring"] = monitoring_json(m);
  j["scan"] = m.scan ? scan_json(*m.scan) : Json();
  j["skipped"] = std::move(skipped);
  j["findings"] = std::move(findings);
  return j;
}

}  // namespace

// Keys in alphabetical order, as reports have always had them.
Json environment_json(const Environment& e) {
  return {{"cpuThreads", e.cpu_threads},     {"cuda", optional_json(e.cuda)},
          {"cudaAvailable", e.cuda_available}, {"cudaDevices", e.cuda_devices},
          {"cudnn", optional_json(e.cudnn)},   {"libtorch", e.libtorch},
          {"modelgate", e.modelgate}};
}

Json report_json(const JobResult& r) {
  const Action verdict = r.verdict();
  Json backends = Json::object();
  for (const auto& [op, backend] : r.kernels.backends) backends[op] = backend;
  Json manifests = Json::array(), models = Json::array(), findings = Json::array();
  for (const auto& m : r.manifests) manifests.push_back({{"kind", m.kind}, {"name", m.name}, {"handled", m.handled}});
  for (const auto& m : r.models) models.push_back(model_json(m));
  for (const auto& f : r.findings()) {
    auto j = finding_json(f.finding);
    j["model"] = f.model.empty() ? Json() : Json(f.model);  // null: a finding of the job as a whole
    findings.push_back(std::move(j));
  }
  Json permissions = Json::array();
  for (const auto& c : r.permissions) permissions.push_back(permission_json(c));
  Json j{{"verdict", verdict_name(verdict)},
         {"exitCode", r.exit_code()},
         {"complete", r.complete},
         {"interrupted", optional_json(r.interrupted)},
         {"schemaVersion", r.schema_version},
         {"tool", {{"name", "modelgate"}, {"version", r.tool_version}}},
         {"environment", environment_json(r.environment)},
         {"job", {{"name", r.job_name}, {"path", r.job_path}}},
         {"device", r.device},
         {"seed", r.seed},
         {"startedAt", r.started_at},
         {"kernels", {{"cudaCompiled", r.kernels.cuda_compiled}, {"backends", std::move(backends)}}},
         {"dataset",
          {{"path", r.dataset.path},
           {"samples", r.dataset.samples},
           {"inputShape", r.dataset.input_shape},
           {"batchSize", r.dataset.batch_size},
           {"format", r.dataset.format},
           {"storage", r.dataset.storage},
           {"fileSamples", r.dataset.file_samples},
           {"selection", r.dataset.selection},
           {"skippedFiles", r.dataset.skipped_files},
           {"peakRssBytes", r.dataset.peak_rss_bytes},
           {"batchAuto", r.dataset.batch_auto},
           {"memoryBudget", optional_json(r.dataset.memory_budget)}}},
         {"baseline", r.baseline ? baseline_json(*r.baseline) : Json()},
         {"manifests", std::move(manifests)},
         {"permissions", std::move(permissions)},
         {"warnings", r.warnings},
         {"models", std::move(models)},
         {"findings", std::move(findings)},
         {"finishedAt", r.finished_at}};
  if (r.dataset.format == "corrupted-npy") j["dataset"]["clean"] = optional_json(r.dataset.clean);
  if (!r.signature.is_null()) j["signature"] = Json(r.signature);
  return j;
}

nlohmann::ordered_json model_result_json(const ModelResult& model) { return model_json(model); }

std::string report_text(const JobResult& result) { return report_json(result).dump(2) + "\n"; }

}  // namespace modelgate::engine
