#include "engine/config.h"
#include "engine/config_dataset.h"
#include "engine/config_robustness.h"

#include "attacks/pgd.h"
#include "engine/errors.h"
#include "engine/limits.h"
#include "engine/stop.h"
#include "engine/yaml_load.h"

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

namespace modelgate::engine {
namespace fs = std::filesystem;

std::string to_string(ReportFormat f) {
  switch (f) {
    case ReportFormat::json: return "json";
    case ReportFormat::junit: return "junit";
    case ReportFormat::prometheus: return "prometheus";
    case ReportFormat::html: return "html";
  }
  return "?";
}

std::string extension(ReportFormat f) {
  switch (f) {
    case ReportFormat::json: return ".json";
    case ReportFormat::junit: return ".xml";
    case ReportFormat::prometheus: return ".prom";
    case ReportFormat::html: return ".html";
  }
  return "";
}

Action JobConfig::action_for(Severity s) const {
  const auto it = actions.find(s);
  return it == actions.end() ? Action::warn : it->second;
}

namespace {
using namespace fields;

constexpr const char* kApiVersion = "security.nootropic.ai/v1";

// spec.reports.format: one name or a list of json, junit, prometheus, html. JSON is always
// written (it is the report the others are rendered from), so it is added when not listed.
std::vector<ReportFormat> report_formats(const Doc& d, const YAML::Node& n, const std::string& field) {
  std::vector<YAML::Node> items;
  if (n.IsSequence()) {
    if (n.size() == 0) d.fail(n, field, "expected at least one format");
    for (size_t i = 0; i < n.size(); ++i) items.push_back(n[i]);
  } else {
    items.push_back(n);
  }
  std::vector<ReportFormat> out{ReportFormat::json};
  for (const auto& item : items) {
    const auto name = text(d, item, field);
    std::optional<ReportFormat> f;
    for (auto c : {ReportFormat::json, ReportFormat::junit, ReportFormat::prometheus, ReportFormat::html})
      if (name == to_string(c)) f = c;
    if (!f) d.fail(item, field, fmt::format("expected json, junit, prometheus or html, got '{}'", name));
    if (std::find(out.begin(), out.end(), *f) == out.end()) out.push_back(*f);
  }
  return out;
}

// The seed manifests carry schedules. modelgate runs when cron or CI invokes it, so the
// frequency is noted, not enforced; a duration is the manifest's time budget.
void read_schedule(const Doc& d, const YAML::Node& spec, const std::string& manifest, JobConfig& job) {
  const auto& sched = spec["schedule"];
  if (!sched) return;
  d.warnings.push_back(fmt::format("{}:{}: {}: spec.schedule's frequency is not enforced by modelgate; schedule the "
                                   "job with cron or CI{}",
                                   d.file.string(), sched.Mark().line + 1, d.label,
                                   sched.IsMap() && sched["duration"] ? " (its duration is this manifest's time budget)" : ""));
  if (sched.IsMap()) {
    d.warn_unknown(sched, "spec.schedule.", {"frequency", "duration"});
    if (const auto& dur = sched["duration"]) {
      const auto v = parse_duration(text(d, dur, "spec.schedule.duration"));
      if (!v) d.fail(dur, "spec.schedule.duration", fmt::format("expected a duration such as 90m or 2h, got '{}'", dur.Scalar()));
      job.manifest_budgets[manifest] = *v;
    }
  }
}


void read_validation_job(const Doc& d, const YAML::Node& spec, JobConfig& job,
                         const fs::path& base) {
  d.warn_unknown(spec, "spec.", {"models", "dataset", "device", "seed", "reports", "baseline", "budget", "budgetSeverity"});
  const auto& models = require(d, spec, "models", "spec.");
  if (!models.IsSequence() || models.size() == 0)
    d.fail(models, "spec.models", "expected a non-empty list of {name, path}");
  for (size_t i = 0; i < models.size(); ++i) {
    const auto f = fmt::format("spec.models[{}].", i);
    job.models.push_back(read_model_entry(d, models[i], f, base));
  }
  read_dataset(d, require(d, spec, "dataset", "spec."), base, job);
  if (spec["device"]) {
    job.device = text(d, spec["device"], "spec.device");
    if (job.device != "auto" && job.device != "cpu" && job.device != "cuda")
      d.fail(spec["device"], "spec.device", "expected auto, cpu or cuda, got '" + job.device + "'");
  }
  if (spec["seed"]) job.seed = static_cast<uint64_t>(integer(d, spec["seed"], "spec.seed", 0));
  if (const auto& b = spec["baseline"]) {
    if (!b.IsMap()) d.fail(b, "spec.baseline", "expected a map such as {report: auto, maxDrop: 0.02}");
    d.warn_unknown(b, "spec.baseline.", {"report", "maxDrop", "severity"});
    if (b["report"]) {
      const auto r = text(d, b["report"], "spec.baseline.report");
      job.baseline.report = r == "auto" || r == "none" ? r : resolve(base, r).string();
    }
    if (b["maxDrop"]) job.baseline.max_drop = number_in(d, b["maxDrop"], "spec.baseline.maxDrop", 0, 1, false);
    if (b["severity"]) job.baseline.severity = severity(d, b["severity"], "spec.baseline.severity");
  }
  if (const auto& b = spec["budget"]) {
    const auto v = parse_duration(text(d, b, "spec.budget"));
    if (!v) d.fail(b, "spec.budget", fmt::format("expected a duration such as 90m or 2h, got '{}'", b.Scalar()));
    job.budget_seconds = *v;
  }
  if (spec["budgetSeverity"]) job.budget_severity = severity(d, spec["budgetSeverity"], "spec.budgetSeverity");
  if (const auto& r = spec["reports"]) {
    d.warn_unknown(r, "spec.reports.", {"format", "location", "keep"});
    if (r["format"]) {
      job.report_formats = report_formats(d, r["format"], "spec.reports.format");
    }
    if (r["keep"]) job.keep_reports = integer(d, r["keep"], "spec.reports.keep", 1);
    if (r["location"]) job.report_location = resolve(base, text(d, r["location"], "spec.reports.location"));
  }
}

void read_adversarial(const Doc& d, const YAML::Node& spec, const std::string& name, JobConfig& job) {
  d.warn_unknown(spec, "spec.", {"attacks", "schedule"});
  read_schedule(d, spec, name, job);
  const auto& attacks = require(d, spec, "attacks", "spec.");
  if (!attacks.IsSequence()) d.fail(attacks, "spec.attacks", "expected a list of attacks");
  for (size_t i = 0; i < attacks.size(); ++i) {
    const auto& a = attacks[i];
    const auto f = fmt::format("spec.attacks[{}].", i);
    d.warn_unknown(a, f, {"type", "norm", "loss", "epsilon", "steps", "stepSize", "randomStart", "restarts",
                          "target", "activeSet", "minAccuracy", "severity"});
    auto ignored = [&](const std::string& key, const std::string& why) {
      job.warnings.push_back(fmt::format("{}: {}: {}{} {} and is ignored", d.file.string(), d.label, f, key, why));
    };
    AttackPlan p;  // every field but epsilon; one copy per epsilon below
    p.manifest = name;
    p.source = fmt::format("{}: spec.attacks[{}]", d.label, i);
    const auto type = text(d, require(d, a, "type", f), f + "type");
    if (type == "fgsm") p.kind = AttackKind::fgsm;
    else if (type == "pgd") p.kind = AttackKind::pgd;
    else if (type == "apgd") p.kind = AttackKind::apgd;
    else d.fail(a["type"], f + "type", fmt::format("unknown attack '{}' (expected fgsm, pgd or apgd)", type));
    if (a["norm"]) {
      const auto norm = text(d, a["norm"], f + "norm");
      if (norm == "l2") p.norm = attacks::Norm::l2;
      else if (norm != "linf") d.fail(a["norm"], f + "norm", fmt::format("expected linf or l2, got '{}'", norm));
    }
    const bool l2 = p.norm == attacks::Norm::l2;
    // An L2 radius is measured over the whole input and may exceed 1; an L∞ one may not.
    const double eps_max = l2 ? 1000.0 : 1.0;
    const auto epsilons = a["epsilon"] ? number_list(d, a["epsilon"], f + "epsilon", 0, eps_max)
                                       : std::vector<double>{l2 ? 0.5 : 8.0 / 255.0};
    std::optional<double> step_size;
    if (p.kind == AttackKind::fgsm) {
      for (const char* k : {"steps", "stepSize", "randomStart", "restarts"})
        if (a[k]) ignored(k, "does not apply to fgsm");
    } else {
      p.steps = a["steps"] ? integer(d, a["steps"], f + "steps", 1, limits::kSteps) : p.kind == AttackKind::apgd ? 100 : 10;
      p.random_start = a["randomStart"] ? boolean(d, a["randomStart"], f + "randomStart") : true;
      if (a["restarts"]) p.restarts = integer(d, a["restarts"], f + "restarts", 1, limits::kRestarts);
    }
    if (p.kind == AttackKind::apgd) {
      if (a["loss"]) {
        const auto loss = text(d, a["loss"], f + "loss");
        if (loss == "dlr") p.loss = attacks::ApgdLoss::dlr;
        else if (loss != "ce") d.fail(a["loss"], f + "loss", fmt::format("expected ce or dlr, got '{}'", loss));
      }
      if (a["stepSize"]) ignored("stepSize", "does not apply to apgd (its step size is adaptive)");
      if (a["target"]) ignored("target", "does not apply to apgd (untargeted only)");
    } else {
      if (a["stepSize"] && p.kind == AttackKind::pgd)
        step_size = number_in(d, a["stepSize"], f + "stepSize", 0, eps_max, true);
      if (a["loss"]) ignored("loss", "applies to apgd only");
      if (const auto& t = a["target"]) {
        const auto v = text(d, t, f + "target");
        if (v == "leastLikely") p.target = attacks::Target::least_likely;
        else if (v == "random") p.target = attacks::Target::random;
        else if (v != "none") {
          p.target = attacks::Target::label;
          p.target_label = integer(d, t, f + "target", 0);
        }
      }
    }
    if (a["activeSet"]) p.active_set = boolean(d, a["activeSet"], f + "activeSet");
    if (a["minAccuracy"]) p.min_accuracy = number_in(d, a["minAccuracy"], f + "minAccuracy", 0, 1, false);
    if (a["severity"]) p.severity = severity(d, a["severity"], f + "severity");
    for (double eps : epsilons) {
      AttackPlan plan = p;
      plan.epsilon = eps;
      switch (plan.kind) {
        case AttackKind::fgsm: plan.step_size = eps; break;
        case AttackKind::apgd: plan.step_size = attacks::apgd_first_step(eps); break;
        case AttackKind::pgd: {
          attacks::PgdOptions o;
          o.epsilon = eps;
          o.steps = plan.steps;
          o.step_size = step_size.value_or(-1);
          plan.step_size = attacks::pgd_step_size(o);
          break;
        }
      }
      job.attacks.push_back(plan);
    }
  }
}

void read_fingerprinting(const Doc& d, const YAML::Node& spec, JobConfig& job) {
  d.warn_unknown(spec, "spec.", {"method", "features", "verification", "probes"});
  if (spec["method"] && text(d, spec["method"], "spec.method") != "neural")
    d.fail(spec["method"], "spec.method", "only 'neural' fingerprints are supported");
  if (spec["probes"]) job.fingerprint_probes = integer(d, spec["probes"], "spec.probes", 1, limits::kProbes);
}

void read_scanning(const Doc& d, const YAML::Node& spec, const std::string& name, JobConfig& job, const fs::path& base,
                   bool job_has_location, bool job_has_formats) {
  d.warn_unknown(spec, "spec.", {"scanner", "schedule", "severity", "reports", "limits", "allow"});
  read_schedule(d, spec, name, job);
  if (const auto& lim = spec["limits"]) {
    if (!lim.IsMap()) d.fail(lim, "spec.limits", "expected a map such as {pickleBytes: 256Mi}");
    d.warn_unknown(lim, "spec.limits.", {"records", "recordBytes", "totalBytes", "compressionRatio", "pickleBytes", "codeBytes", "graphNodes"});
    auto& l = job.scan_limits;
    if (lim["records"]) l.entries = static_cast<uint64_t>(integer(d, lim["records"], "spec.limits.records", 1));
    if (lim["recordBytes"]) l.entry_bytes = byte_size(d, lim["recordBytes"], "spec.limits.recordBytes");
    if (lim["totalBytes"]) l.total_bytes = byte_size(d, lim["totalBytes"], "spec.limits.totalBytes");
    if (lim["compressionRatio"]) l.compression_ratio = number_in(d, lim["compressionRatio"], "spec.limits.compressionRatio", 1, 1e9, false);
    if (lim["pickleBytes"]) l.pickle_bytes = byte_size(d, lim["pickleBytes"], "spec.limits.pickleBytes");
    if (lim["codeBytes"]) l.code_bytes = byte_size(d, lim["codeBytes"], "spec.limits.codeBytes");
    if (lim["graphNodes"]) l.graph_nodes = integer(d, lim["graphNodes"], "spec.limits.graphNodes", 1);
  }
  if (const auto& allow = spec["allow"]) {
    if (!allow.IsSequence()) d.fail(allow, "spec.allow", "expected a list of {finding, sha256, reason}");
    for (size_t i = 0; i < allow.size(); ++i) {
      const auto f = fmt::format("spec.allow[{}]", i);
      const auto& a = allow[i];
      if (!a.IsMap()) d.fail(a, f, "expected {finding, sha256, reason}");
      d.warn_unknown(a, f + ".", {"finding", "sha256", "reason"});
      ScanAllowance s{text(d, require(d, a, "finding", f + "."), f + ".finding"),
                      text(d, require(d, a, "sha256", f + "."), f + ".sha256"),
                      text(d, require(d, a, "reason", f + "."), f + ".reason"), name};
      if (s.sha256.size() != 64 || s.sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
        d.fail(a["sha256"], f + ".sha256", "expected the model file's sha256 as 64 lowercase hex digits");
      if (s.reason.empty()) d.fail(a["reason"], f + ".reason", "say why the finding is accepted");
      job.scan_allow.push_back(std::move(s));
    }
  }
  if (const auto& sev = spec["severity"]) {
    if (!sev.IsMap()) d.fail(sev, "spec.severity", "expected a map such as {critical: block}");
    for (const auto& kv : sev)
      job.actions[severity(d, kv.first, "spec.severity key")] = action(d, kv.second, "spec.severity." + kv.first.Scalar());
  }
  if (const auto& r = spec["reports"]) {
    d.warn_unknown(r, "spec.reports.", {"format", "location"});
    // The ValidationJob's location and formats win; the scanning manifest's are the fallback.
    if (r["location"] && !job_has_location)
      job.report_location = resolve(base, text(d, r["location"], "spec.reports.location"));
    if (r["format"]) {
      const auto formats = report_formats(d, r["format"], "spec.reports.format");
      if (!job_has_formats) job.report_formats = formats;
    }
  }
}

// ProcessIsolation: spec.isolation [{type: process}, {type: memory}], spec.limits
// [{type: cpu, max: 30m}, {type: memory, max: 8Gi}], and modelgate's spec.timeouts {load, evaluation}.
void read_isolation(const Doc& d, const YAML::Node& spec, const std::string& name, JobConfig& job) {
  d.warn_unknown(spec, "spec.", {"isolation", "limits", "timeouts", "severity"});
  auto& iso = job.isolation;
  iso.manifests.push_back(name);
  for (const char* key : {"isolation", "limits"}) {
    const auto& list = spec[key];
    if (!list) continue;
    const std::string field = std::string("spec.") + key;
    if (!list.IsSequence()) d.fail(list, field, "expected a list of {type: ...}");
    for (size_t i = 0; i < list.size(); ++i) {
      const auto f = fmt::format("{}[{}]", field, i);
      const auto& item = list[i];
      if (!item.IsMap()) d.fail(item, f, "expected {type: ...}");
      d.warn_unknown(item, f + ".", {"type", "max"});
      const auto type = text(d, require(d, item, "type", f + "."), f + ".type");
      const bool limits = std::string(key) == "limits";
      if (!limits && type != "process" && type != "memory")
        d.fail(item["type"], f + ".type", fmt::format("expected process or memory, got '{}'", type));
      if (limits && type != "cpu" && type != "memory")
        d.fail(item["type"], f + ".type", fmt::format("expected cpu or memory, got '{}'", type));
      if (!item["max"]) continue;
      if (!limits) d.fail(item["max"], f + ".max", "limits go under spec.limits");
      if (type == "memory") {
        iso.memory_bytes = byte_size(d, item["max"], f + ".max");
      } else {
        const auto v = parse_duration(text(d, item["max"], f + ".max"));
        if (!v || *v <= 0) d.fail(item["max"], f + ".max", "expected CPU time as a duration such as 30m");
        iso.cpu_seconds = *v;
      }
    }
  }
  if (const auto& t = spec["timeouts"]) {
    if (!t.IsMap()) d.fail(t, "spec.timeouts", "expected {load: 5m, evaluation: 1h}");
    d.warn_unknown(t, "spec.timeouts.", {"load", "evaluation"});
    for (const char* key : {"load", "evaluation"}) {
      if (!t[key]) continue;
      const auto field = std::string("spec.timeouts.") + key;
      const auto v = parse_duration(text(d, t[key], field));
      if (!v || *v <= 0) d.fail(t[key], field, "expected a duration such as 5m");
      (std::string(key) == "load" ? iso.load_seconds : iso.evaluation_seconds) = *v;
    }
  }
  if (spec["severity"]) iso.severity = severity(d, spec["severity"], "spec.severity");
}

// ModelRuntimeProtection: spec.memory {protection, isolation: process|none}, spec.inference
// {protection, validation: strict}. modelgate always scans and validates strictly; isolation:
// none runs model code in modelgate's own process (for debugging; the report says so).
void read_runtime_protection(const Doc& d, const YAML::Node& spec, const std::string& name, JobConfig& job) {
  d.warn_unknown(spec, "spec.", {"memory", "inference"});
  job.isolation.manifests.push_back(name);
  if (const auto& m = spec["memory"]) {
    d.warn_unknown(m, "spec.memory.", {"protection", "isolation"});
    if (m["isolation"]) {
      const auto v = text(d, m["isolation"], "spec.memory.isolation");
      if (v != "process" && v != "none") d.fail(m["isolation"], "spec.memory.isolation", fmt::format("expected process or none, got '{}'", v));
      job.isolation.process = v == "process";
    }
  }
  if (const auto& i = spec["inference"]) {
    d.warn_unknown(i, "spec.inference.", {"protection", "validation"});
    if (i["validation"]) {
      const auto v = text(d, i["validation"], "spec.inference.validation");
      if (v != "strict") d.fail(i["validation"], "spec.inference.validation", fmt::format("expected strict, got '{}' (modelgate always scans before load)", v));
    }
  }
}

// ModelStorageEncryption: spec.algorithm (aes-256-gcm), spec.keyManagement {type: local, storage:
// a folder of key files}, spec.storage {type, path, backup}. Where models are stored and backed
// up is the deployment's business; modelgate reads the models the ValidationJob lists.
void read_storage_encryption(const Doc& d, const YAML::Node& spec, const std::string& name, JobConfig& job,
                             const fs::path& base) {
  d.warn_unknown(spec, "spec.", {"algorithm", "keyManagement", "storage"});
  StorageEncryptionSpec e;
  e.manifest = name;
  if (spec["algorithm"]) {
    e.algorithm = text(d, spec["algorithm"], "spec.algorithm");
    if (e.algorithm != "aes-256-gcm")
      d.fail(spec["algorithm"], "spec.algorithm", fmt::format("expected aes-256-gcm, got '{}'", e.algorithm));
  }
  if (const auto& k = spec["keyManagement"]) {
    if (!k.IsMap()) d.fail(k, "spec.keyManagement", "expected a map such as {type: local, storage: ~/.nootropic/keys}");
    d.warn_unknown(k, "spec.keyManagement.", {"type", "storage"});
    if (k["type"] && text(d, k["type"], "spec.keyManagement.type") != "local")
      d.fail(k["type"], "spec.keyManagement.type", fmt::format("expected local, got '{}'", k["type"].Scalar()));
    if (k["storage"]) e.key_folder = resolve(base, text(d, k["storage"], "spec.keyManagement.storage"));
  }
  if (const auto& st = spec["storage"]) {
    if (!st.IsMap()) d.fail(st, "spec.storage", "expected a map such as {type: local, path: ~/.nootropic/models}");
    d.warn_unknown(st, "spec.storage.", {"type", "path", "backup"});
    if (st["type"] && text(d, st["type"], "spec.storage.type") != "local")
      d.fail(st["type"], "spec.storage.type", fmt::format("expected local, got '{}'", st["type"].Scalar()));
    d.warnings.push_back(fmt::format("{}:{}: {}: spec.storage (where models are kept and backed up) is not managed by "
                                     "modelgate; it reads the models the ValidationJob lists",
                                     d.file.string(), st.Mark().line + 1, d.label));
  }
  job.storage_encryption = e;
}

// "80%" or 0.8 → 0.8.
double share(const Doc& d, const YAML::Node& n, const std::string& field) {
  const auto t = text(d, n, field);
  if (!t.empty() && t.back() == '%') {
    YAML::Node number_part(t.substr(0, t.size() - 1));
    return number_in(d, number_part, field, 0, 100, true) / 100;
  }
  return number_in(d, n, field, 0, 1, true);
}

void read_inference(const Doc& d, const YAML::Node& spec, const std::string& name, JobConfig& job) {
  d.warn_unknown(spec, "spec.", {"metrics", "alerts", "samples", "severity"});
  InferenceMonitoringSpec m;
  m.manifest = name;
  if (spec["samples"]) m.samples = integer(d, spec["samples"], "spec.samples", 1);
  if (spec["severity"]) m.severity = severity(d, spec["severity"], "spec.severity");
  if (const auto& metrics = spec["metrics"]) {
    if (!metrics.IsSequence()) d.fail(metrics, "spec.metrics", "expected a list such as [latency, throughput, error_rate]");
    for (size_t i = 0; i < metrics.size(); ++i) {
      const auto v = text(d, metrics[i], fmt::format("spec.metrics[{}]", i));
      if (v != "latency" && v != "throughput" && v != "error_rate")
        d.fail(metrics[i], fmt::format("spec.metrics[{}]", i), fmt::format("expected latency, throughput or error_rate, got '{}'", v));
    }
  }
  if (const auto& alerts = spec["alerts"]) {
    if (!alerts.IsSequence()) d.fail(alerts, "spec.alerts", "expected a list of {type, threshold}");
    for (size_t i = 0; i < alerts.size(); ++i) {
      const auto f = fmt::format("spec.alerts[{}].", i);
      d.warn_unknown(alerts[i], f, {"type", "threshold"});
      const auto type = text(d, require(d, alerts[i], "type", f), f + "type");
      const auto& t = require(d, alerts[i], "threshold", f);
      if (type == "latency") {
        const auto v = parse_duration(text(d, t, f + "threshold"));
        if (!v) d.fail(t, f + "threshold", fmt::format("expected a duration such as 100ms, got '{}'", t.Scalar()));
        m.latency_ms = *v * 1000;
      } else if (type == "error_rate") {
        m.error_rate = number_in(d, t, f + "threshold", 0, 1, false);
      } else {
        d.fail(alerts[i]["type"], f + "type", fmt::format("expected latency or error_rate, got '{}'", type));
      }
    }
  }
  job.inference = m;
}

void read_resources(const Doc& d, const YAML::Node& spec, const std::string& name, JobConfig& job) {
  d.warn_unknown(spec, "spec.", {"metrics", "limits", "severity"});
  ResourceMonitoringSpec r;
  r.manifest = name;
  if (spec["severity"]) r.severity = severity(d, spec["severity"], "spec.severity");
  if (const auto& limits = spec["limits"]) {
    if (!limits.IsMap()) d.fail(limits, "spec.limits", "expected a map such as {cpu: 80%, memory: 90%}");
    d.warn_unknown(limits, "spec.limits.", {"cpu", "memory", "gpu"});
    if (limits["cpu"]) r.cpu = share(d, limits["cpu"], "spec.limits.cpu");
    if (limits["memory"]) r.memory = share(d, limits["memory"], "spec.limits.memory");
    if (limits["gpu"]) r.gpu = share(d, limits["gpu"], "spec.limits.gpu");
  }
  job.resources = r;
}

void read_permissions(const Doc& d, const YAML::Node& spec, const std::string& name, JobConfig& job,
                      const fs::path& base) {
  d.warn_unknown(spec, "spec.", {"files", "severity"});
  if (spec["severity"]) job.permission_severity = severity(d, spec["severity"], "spec.severity");
  const auto& files = require(d, spec, "files", "spec.");
  if (!files.IsSequence()) d.fail(files, "spec.files", "expected a list of {path, mode}");
  for (size_t i = 0; i < files.size(); ++i) {
    const auto f = fmt::format("spec.files[{}].", i);
    d.warn_unknown(files[i], f, {"path", "mode"});
    PermissionRule rule;
    rule.manifest = name;
    rule.path = resolve(base, text(d, require(d, files[i], "path", f), f + "path"));
    if (files[i]["mode"]) {
      // Written the way chmod takes it: 600 is octal 0600, not decimal.
      const auto m = text(d, files[i]["mode"], f + "mode");
      if (m.empty() || m.size() > 4 || m.find_first_not_of("01234567") != std::string::npos)
        d.fail(files[i]["mode"], f + "mode", fmt::format("expected an octal mode such as 600, got '{}'", m));
      rule.mode = static_cast<unsigned>(std::stoul(m, nullptr, 8));
    }
    job.permissions.push_back(rule);
  }
}

// A corrupted-npy dataset without spec.dataset.clean has no clean samples: the checks that
// start from them (attacks, modelgate's own corruptions, batch-1 latency) cannot run.
void check_clean_samples(const JobConfig& job) {
  const auto& ds = job.dataset;
  if (ds.format != data::Format::corrupted_npy || ds.clean) return;
  std::string needs;
  if (!job.attacks.empty()) needs = "AdversarialTesting";
  for (const auto& c : job.corruptions)
    if (needs.empty() && c.kind != CorruptionKind::stored)
      needs = "RobustnessTesting's " + (c.kind == CorruptionKind::benchmark ? c.name : to_string(c.kind));
  if (needs.empty() && job.inference) needs = "InferenceMonitoring";
  if (!needs.empty())
    throw InputError(fmt::format("{}: {} needs clean samples, and the corrupted-npy dataset {} has none: set "
                                 "spec.dataset.clean to the clean set its files were made from (such as "
                                 "cifar-10-batches-bin/test_batch.bin)",
                                 job.file.string(), needs, ds.path.string()));
}

}  // namespace

JobConfig load_job(const fs::path& file) {
  JobConfig job;
  job.file = file;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw InputError(file.string() + ": job file not found or not a regular file");
  // A job file is a page of YAML; anything this large is not one, and yaml-cpp holds it all.
  constexpr uintmax_t kMaxJobBytes = 16u << 20;
  if (const auto size = fs::file_size(file, ec); !ec && size > kMaxJobBytes)
    throw InputError(fmt::format("{}: job file is {} bytes, over the limit of {} (16 MiB)", file.string(), size, kMaxJobBytes));
  std::vector<YAML::Node> docs;
  try {
    docs = load_yaml_documents(file);
  } catch (const YAML::DeepRecursion& e) {
    throw InputError(fmt::format("{}:{}:{}: YAML nests deeper than {} levels", file.string(), e.mark.line + 1,
                                 e.mark.column + 1, e.depth() - 1));
  } catch (const YAML::ParserException& e) {
    throw InputError(fmt::format("{}:{}:{}: YAML syntax error: {}", file.string(), e.mark.line + 1,
                                 e.mark.column + 1, e.msg));
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}: cannot read job file: {}", file.string(), e.msg));
  }
  // Every field is read through the checks above; a YAML node of a shape none of them expects
  // (a conversion yaml-cpp refuses) is still the file's fault, not modelgate's.
  const fs::path base = fs::absolute(file).parent_path();
  try {
    job.actions = {{Severity::critical, Action::block}, {Severity::high, Action::review}};

    // The ValidationJob comes first so that scanning manifests know whether it set a location.
    std::vector<std::pair<size_t, std::string>> order;
    int validation_jobs = 0;
    for (size_t i = 0; i < docs.size(); ++i) {
      const auto& doc = docs[i];
      if (doc.IsNull()) continue;
      Doc d{file, fmt::format("document {}", i + 1), job.warnings};
      if (!doc.IsMap()) d.fail(doc, "document", "expected a manifest (a map with apiVersion and kind)");
      const auto api = text(d, require(d, doc, "apiVersion", ""), "apiVersion");
      if (api != kApiVersion)
        d.fail(doc["apiVersion"], "apiVersion", fmt::format("expected {}, got '{}'", kApiVersion, api));
      const auto kind = text(d, require(d, doc, "kind", ""), "kind");
      if (kind == "ValidationJob") ++validation_jobs;
      order.emplace_back(i, kind);
    }
    if (validation_jobs != 1)
      throw InputError(fmt::format("{}: expected exactly one ValidationJob document (it names the "
                                   "models and the dataset), found {}", file.string(), validation_jobs));
    std::stable_partition(order.begin(), order.end(),
                          [](const auto& o) { return o.second == "ValidationJob"; });

    bool job_has_formats = false;
    for (const auto& [i, kind] : order) {
      const auto& doc = docs[i];
      std::string name = fmt::format("{}-{}", kind, i + 1);
      if (doc["metadata"] && doc["metadata"]["name"] && doc["metadata"]["name"].IsScalar())
        name = doc["metadata"]["name"].Scalar();
      Doc d{file, fmt::format("{} '{}'", kind, name), job.warnings};
      d.warn_unknown(doc, "", {"apiVersion", "kind", "metadata", "spec"});
      const YAML::Node spec = doc["spec"] ? doc["spec"] : YAML::Node(YAML::NodeType::Map);
      if (!spec.IsMap()) d.fail(spec, "spec", "expected a map");
      bool handled = true;
      if (kind == "ValidationJob") {
        job.name = name;
        job_has_formats = spec["reports"] && spec["reports"].IsMap() && spec["reports"]["format"];
        read_validation_job(d, spec, job, base);
      } else if (kind == "AdversarialTesting") {
        read_adversarial(d, spec, name, job);
      } else if (kind == "RobustnessTesting") {
        read_schedule(d, spec, name, job);
        read_robustness(d, spec, name, base, job);
      } else if (kind == "ModelFingerprinting") {
        read_fingerprinting(d, spec, job);
      } else if (kind == "InferenceMonitoring") {
        read_inference(d, spec, name, job);
      } else if (kind == "ResourceMonitoring") {
        read_resources(d, spec, name, job);
      } else if (kind == "ModelPermissions") {
        read_permissions(d, spec, name, job, base);
      } else if (kind == "ProcessIsolation") {
        read_isolation(d, spec, name, job);
      } else if (kind == "ModelRuntimeProtection") {
        read_runtime_protection(d, spec, name, job);
      } else if (kind == "ModelStorageEncryption") {
        read_storage_encryption(d, spec, name, job, base);
      } else if (kind == "ModelVulnerabilityScanning") {
        read_scanning(d, spec, name, job, base, !job.report_location.empty(), job_has_formats);
      } else {
        handled = false;
        job.warnings.push_back(fmt::format("{}: {} '{}' is not handled by modelgate and was skipped",
                                           file.string(), kind, name));
      }
      job.manifests.push_back({kind, name, handled});
    }
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}:{}: unexpected YAML structure: {}", file.string(), e.mark.line + 1, e.msg));
  }
  check_clean_samples(job);
  check_benchmark_baseline(job);
  if (job.report_location.empty()) job.report_location = base / "reports";
  return job;
}

}  // namespace modelgate::engine
