#include "engine/report/json_report.h"


namespace modelgate::engine {
namespace {

using Json = nlohmann::ordered_json;

template <typename T>
Json optional_json(const std::optional<T>& v) {
  return v ? Json(*v) : Json();
}

Json finding_json(const Finding& f) {
  return {{"check", f.check},     {"severity", to_string(f.severity)}, {"action", to_string(f.action)},
          {"message", f.message}, {"observed", f.observed},            {"threshold", f.threshold}};
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
  if (c.plan.kind == CorruptionKind::gaussian_noise) {
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

Json model_json(const ModelResult& m) {
  Json adversarial = Json::array(), robustness = Json::array(), findings = Json::array();
  for (const auto& a : m.attacks) adversarial.push_back(attack_json(a));
  for (const auto& c : m.corruptions) robustness.push_back(corruption_json(c));
  for (const auto& f : m.findings) findings.push_back(finding_json(f));
  return {{"name", m.name},
          {"path", m.path},
          {"sha256", m.sha256},
          {"clean", {{"correct", m.clean.correct}, {"total", m.clean.total}, {"accuracy", m.clean.accuracy()}}},
          {"adversarial", std::move(adversarial)},
          {"robustness", std::move(robustness)},
          {"fingerprint", m.fingerprint ? fingerprint_json(*m.fingerprint) : Json()},
          {"findings", std::move(findings)}};
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
    j["model"] = f.model;
    findings.push_back(std::move(j));
  }
  Json j{{"verdict", verdict_name(verdict)},
         {"exitCode", exit_code_for(verdict)},
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
           {"batchSize", r.dataset.batch_size}}},
         {"manifests", std::move(manifests)},
         {"warnings", r.warnings},
         {"models", std::move(models)},
         {"findings", std::move(findings)},
         {"finishedAt", r.finished_at}};
  if (!r.signature.is_null()) j["signature"] = Json(r.signature);
  return j;
}

std::string report_text(const JobResult& result) { return report_json(result).dump(2) + "\n"; }

}  // namespace modelgate::engine
