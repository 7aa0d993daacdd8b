// Reads a JSON report back into typed results (see json_report.h). Every field is checked, so
// `modelgate render` and the report comparisons fail with a message naming the field rather
// than with a JSON library error.
#include "engine/errors.h"
#include "engine/json_depth.h"
#include "engine/report/json_report.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace modelgate::engine {
namespace {

// Ordered, so that what is read back renders in the order it was written.
using json = nlohmann::ordered_json;

// Field access with the path of each value in messages: "r.json: models[0].clean.correct: …".
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw InputError(fmt::format("{}: {}: {}", source_, path, what));
  }
  const json& field(const json& j, const std::string& key, const std::string& path) const {
    if (!j.is_object()) fail(path, "expected an object");
    const auto it = j.find(key);
    if (it == j.end()) fail(join(path, key), "missing");
    return *it;
  }
  const json& object(const json& j, const std::string& key, const std::string& path) const {
    const auto& v = field(j, key, path);
    if (!v.is_object()) fail(join(path, key), "expected an object");
    return v;
  }
  const json& array(const json& j, const std::string& key, const std::string& path) const {
    const auto& v = field(j, key, path);
    if (!v.is_array()) fail(join(path, key), "expected an array");
    return v;
  }
  std::string text(const json& j, const std::string& key, const std::string& path) const {
    const auto& v = field(j, key, path);
    if (!v.is_string()) fail(join(path, key), "expected a string");
    return v.get<std::string>();
  }
  std::optional<std::string> optional_text(const json& j, const std::string& key, const std::string& path) const {
    const auto& v = field(j, key, path);
    if (v.is_null()) return std::nullopt;
    return text(j, key, path);
  }
  double number(const json& j, const std::string& key, const std::string& path) const {
    const auto& v = field(j, key, path);
    if (!v.is_number()) fail(join(path, key), "expected a number");
    return v.get<double>();
  }
  int64_t integer(const json& j, const std::string& key, const std::string& path, int64_t lo = 0) const {
    const auto& v = field(j, key, path);
    if (!v.is_number_integer() || (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(INT64_MAX) : v.get<int64_t>() < lo))
      fail(join(path, key), fmt::format("expected an integer ≥ {}", lo));
    return v.get<int64_t>();
  }
  uint64_t unsigned_integer(const json& j, const std::string& key, const std::string& path) const {
    const auto& v = field(j, key, path);
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
      fail(join(path, key), "expected a non-negative integer");
    return v.get<uint64_t>();
  }
  bool boolean(const json& j, const std::string& key, const std::string& path) const {
    const auto& v = field(j, key, path);
    if (!v.is_boolean()) fail(join(path, key), "expected true or false");
    return v.get<bool>();
  }
  std::vector<int64_t> integers(const json& j, const std::string& key, const std::string& path) const {
    std::vector<int64_t> out;
    const auto& a = array(j, key, path);
    for (size_t i = 0; i < a.size(); ++i) {
      if (!a[i].is_number_integer()) fail(fmt::format("{}[{}]", join(path, key), i), "expected an integer");
      out.push_back(a[i].get<int64_t>());
    }
    return out;
  }
  std::vector<std::string> texts(const json& j, const std::string& key, const std::string& path) const {
    std::vector<std::string> out;
    const auto& a = array(j, key, path);
    for (size_t i = 0; i < a.size(); ++i) {
      if (!a[i].is_string()) fail(fmt::format("{}[{}]", join(path, key), i), "expected a string");
      out.push_back(a[i].get<std::string>());
    }
    return out;
  }
  template <typename E>
  E choice(const json& j, const std::string& key, const std::string& path, std::optional<E> (*parse)(const std::string&),
           const char* expected) const {
    const auto s = text(j, key, path);
    const auto v = parse(s);
    if (!v) fail(join(path, key), fmt::format("expected {}, got '{}'", expected, s));
    return *v;
  }
  static std::string join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

 private:
  std::string source_;
};

std::optional<AttackKind> attack_kind(const std::string& s) {
  for (auto k : {AttackKind::fgsm, AttackKind::pgd, AttackKind::apgd})
    if (s == to_string(k)) return k;
  return std::nullopt;
}
std::optional<attacks::Norm> norm_of(const std::string& s) {
  if (s == "linf") return attacks::Norm::linf;
  if (s == "l2") return attacks::Norm::l2;
  return std::nullopt;
}
std::optional<corruptions::Table> table_of(const std::string& s) { return corruptions::table_from(s); }
std::optional<CorruptionKind> corruption_kind(const std::string& s) {
  for (auto k : {CorruptionKind::gaussian_noise, CorruptionKind::gaussian_blur, CorruptionKind::stored, CorruptionKind::benchmark})
    if (s == to_string(k)) return k;
  return std::nullopt;
}

Finding read_finding(const Reader& rd, const json& j, const std::string& path) {
  Finding f;
  f.check = rd.text(j, "check", path);
  f.severity = rd.choice<Severity>(j, "severity", path, severity_from_string, "critical, high, medium or low");
  f.action = rd.choice<Action>(j, "action", path, action_from_string, "block, review, warn or pass");
  f.message = rd.text(j, "message", path);
  f.observed = rd.number(j, "observed", path);
  f.threshold = rd.number(j, "threshold", path);
  if (j.contains("baseline")) f.baseline = rd.number(j, "baseline", path);
  return f;
}

AttackOutcome read_attack(const Reader& rd, const json& j, const std::string& path) {
  AttackOutcome a;
  auto& p = a.plan;
  p.kind = rd.choice<AttackKind>(j, "attack", path, attack_kind, "fgsm, pgd or apgd");
  p.manifest = rd.text(j, "manifest", path);
  p.norm = rd.choice<attacks::Norm>(j, "norm", path, norm_of, "linf or l2");
  if (p.kind == AttackKind::apgd) {
    const auto loss = rd.text(j, "loss", path);
    if (loss != "ce" && loss != "dlr") rd.fail(path + ".loss", "expected ce or dlr");
    p.loss = loss == "dlr" ? attacks::ApgdLoss::dlr : attacks::ApgdLoss::ce;
  }
  p.epsilon = rd.number(j, "epsilon", path);
  p.steps = rd.integer(j, "steps", path, 1);
  p.step_size = rd.number(j, "stepSize", path);
  p.random_start = rd.boolean(j, "randomStart", path);
  p.restarts = rd.integer(j, "restarts", path, 1);
  const auto& target = rd.field(j, "target", path);
  if (target.is_number_integer()) {
    p.target = attacks::Target::label;
    p.target_label = target.get<int64_t>();
  } else if (target == "leastLikely") {
    p.target = attacks::Target::least_likely;
  } else if (target == "random") {
    p.target = attacks::Target::random;
  } else if (!target.is_null()) {
    rd.fail(path + ".target", "expected null, a class index, leastLikely or random");
  }
  p.active_set = rd.boolean(j, "activeSet", path);
  a.robust = {rd.integer(j, "correct", path), rd.integer(j, "total", path)};
  if (!rd.field(j, "lastIterateCorrect", path).is_null()) a.last_correct = rd.integer(j, "lastIterateCorrect", path);
  if (!rd.field(j, "targetSuccessRate", path).is_null()) a.target_success_rate = rd.number(j, "targetSuccessRate", path);
  a.zero_gradient_fraction = rd.number(j, "zeroGradientFraction", path);
  a.seconds = rd.number(j, "seconds", path);
  return a;
}

CorruptionOutcome read_corruption(const Reader& rd, const json& j, const std::string& path) {
  CorruptionOutcome c;
  c.plan.kind = rd.choice<CorruptionKind>(j, "corruption", path, corruption_kind, "gaussian_noise, gaussian_blur, stored or benchmark");
  c.plan.manifest = rd.text(j, "manifest", path);
  if (c.plan.kind == CorruptionKind::stored || c.plan.kind == CorruptionKind::benchmark) {
    c.plan.name = rd.text(j, "name", path);
    c.plan.corruption_severity = rd.integer(j, "severity", path, 1);
  }
  if (c.plan.kind == CorruptionKind::benchmark) {
    const auto known = corruptions::corruption_from(c.plan.name);
    if (!known) rd.fail(path + ".name", "'" + c.plan.name + "' is not one of the corruption benchmark's names");
    if (c.plan.corruption_severity > 5) rd.fail(path + ".severity", "expected 1 to 5");
    c.plan.table = rd.choice<corruptions::Table>(j, "parameters", path, table_of, "cifar or imagenet");
  } else if (c.plan.kind == CorruptionKind::stored) {
    // name and severity are all it has
  } else if (c.plan.kind == CorruptionKind::gaussian_noise) {
    c.plan.level = rd.number(j, "level", path);
  } else {
    c.plan.kernel = rd.integer(j, "kernel", path, 1);
    c.plan.sigma = rd.number(j, "sigma", path);
  }
  c.score = {rd.integer(j, "correct", path), rd.integer(j, "total", path)};
  c.seconds = rd.number(j, "seconds", path);
  return c;
}

FingerprintSummary read_fingerprint(const Reader& rd, const json& j, const std::string& path) {
  FingerprintSummary f;
  f.root_sha256 = rd.text(j, "rootSha256", path);
  f.arch_sha256 = rd.text(j, "archSha256", path);
  f.parameter_count = rd.integer(j, "parameterCount", path);
  f.layers = rd.texts(j, "layers", path);
  const auto pp = path + ".probes";
  const auto& p = rd.object(j, "probes", path);
  f.probes.seed = rd.unsigned_integer(p, "seed", pp);
  f.probes.synthetic = rd.integer(p, "synthetic", pp);
  f.probes.input_shape = rd.integers(p, "inputShape", pp);
  f.probes.data_path = rd.text(p, "dataPath", pp);
  f.probes.data_sha256 = rd.text(p, "dataSha256", pp);
  f.probes.real = rd.integer(p, "real", pp);
  const auto bp = pp + ".boundary";
  const auto& b = rd.object(p, "boundary", pp);
  f.probes.boundary.count = rd.integer(b, "count", bp);
  f.probes.boundary.epsilon = rd.number(b, "epsilon", bp);
  f.probes.boundary.steps = rd.integer(b, "steps", bp);
  f.probes.boundary.sha256 = rd.text(b, "sha256", bp);
  return f;
}

LatencyStats read_latency(const Reader& rd, const json& j, const std::string& path) {
  LatencyStats l;
  l.count = rd.integer(j, "count", path);
  l.mean_ms = rd.number(j, "meanMs", path);
  l.p50_ms = rd.number(j, "p50Ms", path);
  l.p95_ms = rd.number(j, "p95Ms", path);
  l.p99_ms = rd.number(j, "p99Ms", path);
  l.max_ms = rd.number(j, "maxMs", path);
  return l;
}

std::optional<int64_t> optional_integer(const Reader& rd, const json& j, const std::string& key, const std::string& path) {
  if (rd.field(j, key, path).is_null()) return std::nullopt;
  return rd.integer(j, key, path);
}

std::optional<double> optional_number(const Reader& rd, const json& j, const std::string& key, const std::string& path) {
  if (rd.field(j, key, path).is_null()) return std::nullopt;
  return rd.number(j, key, path);
}

BenchmarkSummary read_benchmark(const Reader& rd, const json& j, const std::string& path) {
  BenchmarkSummary b;
  b.baseline = rd.optional_text(j, "baseline", path).value_or("");
  b.clean_error = optional_number(rd, j, "cleanError", path);
  b.baseline_clean_error = optional_number(rd, j, "baselineCleanError", path);
  b.mce = optional_number(rd, j, "mce", path);
  b.relative_mce = optional_number(rd, j, "relativeMce", path);
  b.mean_error = optional_number(rd, j, "meanError", path);
  b.complete = rd.boolean(j, "complete", path);
  const auto& rows = rd.array(j, "corruptions", path);
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto p = fmt::format("{}.corruptions[{}]", path, i);
    BenchmarkRow r;
    r.name = rd.text(rows[i], "name", p);
    r.in_mean = rd.boolean(rows[i], "inMean", p);
    r.severities = rd.integers(rows[i], "severities", p);
    const auto& errors = rd.array(rows[i], "errors", p);
    for (size_t k = 0; k < errors.size(); ++k) {
      if (!errors[k].is_number()) rd.fail(fmt::format("{}.errors[{}]", p, k), "expected a number");
      r.errors.push_back(errors[k].get<double>());
    }
    if (r.errors.size() != r.severities.size()) rd.fail(p + ".errors", "expected one error per severity");
    r.ce = optional_number(rd, rows[i], "ce", p);
    r.relative_ce = optional_number(rd, rows[i], "relativeCe", p);
    b.rows.push_back(std::move(r));
  }
  return b;
}

void read_monitoring(const Reader& rd, const json& j, const std::string& path, ModelResult& m) {
  const auto& inf = rd.field(j, "inference", path);
  if (!inf.is_null()) {
    const auto p = path + ".inference";
    InferenceFigures f;
    f.manifest = rd.text(inf, "manifest", p);
    f.batch = read_latency(rd, rd.object(inf, "batch", p), p + ".batch");
    f.single = read_latency(rd, rd.object(inf, "single", p), p + ".single");
    f.throughput = rd.number(inf, "throughput", p);
    f.batches = rd.integer(inf, "batches", p);
    f.failed_batches = rd.integer(inf, "failedBatches", p);
    m.inference = f;
  }
  const auto& res = rd.field(j, "resources", path);
  if (!res.is_null()) {
    const auto p = path + ".resources";
    ResourceFigures r;
    r.manifest = rd.text(res, "manifest", p);
    r.peak_rss_bytes = rd.integer(res, "peakRssBytes", p);
    r.memory_total_bytes = rd.integer(res, "memoryTotalBytes", p);
    r.cpu_seconds = rd.number(res, "cpuSeconds", p);
    r.wall_seconds = rd.number(res, "wallSeconds", p);
    r.cores = rd.integer(res, "cores", p, 1);
    r.gpu_peak_bytes = optional_integer(rd, res, "gpuPeakBytes", p);
    r.gpu_total_bytes = optional_integer(rd, res, "gpuTotalBytes", p);
    m.resources = r;
  }
}

ScanSummary read_scan(const Reader& rd, const json& j, const std::string& path) {
  ScanSummary s;
  s.format = rd.text(j, "format", path);
  s.records = rd.integer(j, "records", path);
  s.pickles = rd.integer(j, "pickles", path);
  s.loaded = rd.boolean(j, "loaded", path);
  s.blocked = rd.boolean(j, "blocked", path);
  s.graphs_checked = rd.boolean(j, "graphsChecked", path);
  s.graph_nodes = rd.integer(j, "graphNodes", path);
  const auto& accepted = rd.array(j, "accepted", path);
  for (size_t i = 0; i < accepted.size(); ++i) {
    const auto p = fmt::format("{}.accepted[{}]", path, i);
    s.accepted.push_back({rd.text(accepted[i], "check", p), rd.text(accepted[i], "location", p), rd.text(accepted[i], "message", p),
                          rd.text(accepted[i], "reason", p), rd.text(accepted[i], "manifest", p)});
  }
  if (!rd.field(j, "isolation", path).is_null()) {
    const auto& iso = rd.object(j, "isolation", path);
    const auto p = path + ".isolation";
    s.isolation = IsolationInfo{rd.boolean(iso, "process", p), rd.text(iso, "landlock", p), rd.text(iso, "seccomp", p),
                                rd.text(iso, "memory", p),     rd.text(iso, "cpu", p),      rd.text(iso, "timeouts", p)};
  }
  return s;
}

ModelResult read_model(const Reader& rd, const json& j, const std::string& path) {
  ModelResult m;
  m.name = rd.text(j, "name", path);
  m.path = rd.text(j, "path", path);
  m.sha256 = rd.text(j, "sha256", path);
  if (j.contains("encryption")) {
    const auto& e = rd.object(j, "encryption", path);
    const auto p = path + ".encryption";
    m.encryption = EncryptionInfo{rd.text(e, "algorithm", p), rd.text(e, "keyId", p), rd.text(e, "keyFile", p),
                                  rd.text(e, "fileSha256", p)};
  }
  if (j.contains("normalize") && !j["normalize"].is_null()) {
    const auto& n = rd.object(j, "normalize", path);
    Normalization norm;
    for (const auto* key : {"mean", "std"}) {
      const auto& a = rd.array(n, key, path + ".normalize");
      auto& out = std::string(key) == "mean" ? norm.mean : norm.std;
      for (size_t i = 0; i < a.size(); ++i) {
        if (!a[i].is_number()) rd.fail(fmt::format("{}.normalize.{}[{}]", path, key, i), "expected a number");
        out.push_back(a[i].get<double>());
      }
    }
    m.normalize = norm;
  }
  if (j.contains("batchSize")) {  // reports before the dataset formats have none of these
    m.batch_size = rd.integer(j, "batchSize", path);
    m.sample_bytes = optional_integer(rd, j, "sampleBytes", path);
    const auto& retries = rd.array(j, "batchRetries", path);
    for (size_t i = 0; i < retries.size(); ++i) {
      const auto p = fmt::format("{}.batchRetries[{}]", path, i);
      m.batch_retries.push_back({rd.text(retries[i], "check", p), rd.integer(retries[i], "first", p),
                                 rd.integer(retries[i], "from", p, 1), rd.integer(retries[i], "to", p, 1),
                                 rd.text(retries[i], "reason", p)});
    }
  }
  const auto& clean = rd.object(j, "clean", path);
  m.clean = {rd.integer(clean, "correct", path + ".clean"), rd.integer(clean, "total", path + ".clean")};
  const auto& adv = rd.array(j, "adversarial", path);
  for (size_t i = 0; i < adv.size(); ++i) m.attacks.push_back(read_attack(rd, adv[i], fmt::format("{}.adversarial[{}]", path, i)));
  const auto& rob = rd.array(j, "robustness", path);
  for (size_t i = 0; i < rob.size(); ++i)
    m.corruptions.push_back(read_corruption(rd, rob[i], fmt::format("{}.robustness[{}]", path, i)));
  if (j.contains("corruptionBenchmark"))
    m.benchmark = read_benchmark(rd, rd.object(j, "corruptionBenchmark", path), path + ".corruptionBenchmark");
  if (!rd.field(j, "fingerprint", path).is_null())
    m.fingerprint = read_fingerprint(rd, rd.object(j, "fingerprint", path), path + ".fingerprint");
  if (j.contains("monitoring")) read_monitoring(rd, rd.object(j, "monitoring", path), path + ".monitoring", m);
  if (j.contains("scan") && !j["scan"].is_null()) m.scan = read_scan(rd, rd.object(j, "scan", path), path + ".scan");
  if (j.contains("skipped")) {
    const auto& skipped = rd.array(j, "skipped", path);
    for (size_t i = 0; i < skipped.size(); ++i) {
      const auto p = fmt::format("{}.skipped[{}]", path, i);
      m.skipped.push_back({rd.text(skipped[i], "section", p), rd.text(skipped[i], "check", p),
                           rd.text(skipped[i], "description", p), rd.text(skipped[i], "manifest", p),
                           rd.text(skipped[i], "reason", p)});
    }
  }
  const auto& findings = rd.array(j, "findings", path);
  for (size_t i = 0; i < findings.size(); ++i)
    m.findings.push_back(read_finding(rd, findings[i], fmt::format("{}.findings[{}]", path, i)));
  return m;
}

BaselineInfo read_baseline(const Reader& rd, const json& j, const std::string& path) {
  BaselineInfo b;
  b.path = rd.optional_text(j, "path", path);
  if (b.path) b.sha256 = rd.text(j, "sha256", path);
  b.max_drop = rd.number(j, "maxDrop", path);
  b.note = rd.text(j, "note", path);
  b.compared = rd.integer(j, "compared", path);
  b.drops = rd.integer(j, "drops", path);
  b.only_before = rd.texts(j, "onlyBefore", path);
  b.only_after = rd.texts(j, "onlyAfter", path);
  b.changed_sha256 = rd.texts(j, "changedSha256", path);
  return b;
}

unsigned octal_mode(const Reader& rd, const json& j, const std::string& key, const std::string& path) {
  const auto t = rd.text(j, key, path);
  if (t.empty() || t.size() > 5 || t.find_first_not_of("01234567") != std::string::npos)
    rd.fail(path + "." + key, "expected an octal mode such as 0600");
  return static_cast<unsigned>(std::stoul(t, nullptr, 8));
}

}  // namespace

JobResult job_result_from_json(const json& j, const std::string& source) {
  const Reader rd(source);
  if (!j.is_object()) rd.fail("report", "expected a JSON object");
  JobResult r;
  if (rd.object(j, "tool", "").value("name", "") != "modelgate") rd.fail("tool.name", "not a modelgate report");
  const auto version = rd.text(j, "schemaVersion", "");
  if (version != "1" && version != "2")
    rd.fail("schemaVersion", fmt::format("this modelgate reads reports of schema versions 1 and 2, not '{}'", version));
  const bool v2 = version == "2";  // what version 1 lacks takes its defaults: complete, no baseline
  r.tool_version = rd.text(rd.object(j, "tool", ""), "version", "tool");
  const auto& env = rd.object(j, "environment", "");
  r.environment.modelgate = rd.text(env, "modelgate", "environment");
  r.environment.libtorch = rd.text(env, "libtorch", "environment");
  r.environment.cuda = rd.optional_text(env, "cuda", "environment");
  r.environment.cudnn = rd.optional_text(env, "cudnn", "environment");
  r.environment.cuda_available = rd.boolean(env, "cudaAvailable", "environment");
  r.environment.cuda_devices = rd.integer(env, "cudaDevices", "environment");
  r.environment.cpu_threads = rd.integer(env, "cpuThreads", "environment", 1);
  const auto& job = rd.object(j, "job", "");
  r.job_name = rd.text(job, "name", "job");
  r.job_path = rd.text(job, "path", "job");
  r.device = rd.text(j, "device", "");
  r.seed = rd.unsigned_integer(j, "seed", "");
  r.started_at = rd.text(j, "startedAt", "");
  r.finished_at = rd.text(j, "finishedAt", "");
  const auto& kernels = rd.object(j, "kernels", "");
  r.kernels.cuda_compiled = rd.boolean(kernels, "cudaCompiled", "kernels");
  for (const auto& [op, backend] : rd.object(kernels, "backends", "kernels").items()) {
    if (!backend.is_string()) rd.fail("kernels.backends." + op, "expected a string");
    r.kernels.backends.emplace_back(op, backend.get<std::string>());
  }
  const auto& ds = rd.object(j, "dataset", "");
  r.dataset.path = rd.text(ds, "path", "dataset");
  r.dataset.samples = rd.integer(ds, "samples", "dataset");
  r.dataset.input_shape = rd.integers(ds, "inputShape", "dataset");
  r.dataset.batch_size = rd.integer(ds, "batchSize", "dataset", 1);
  if (ds.contains("format")) {  // reports before the dataset formats have none of these
    r.dataset.format = rd.text(ds, "format", "dataset");
    r.dataset.storage = rd.text(ds, "storage", "dataset");
    r.dataset.file_samples = rd.integer(ds, "fileSamples", "dataset");
    r.dataset.selection = rd.text(ds, "selection", "dataset");
    r.dataset.skipped_files = rd.texts(ds, "skippedFiles", "dataset");
    r.dataset.peak_rss_bytes = rd.integer(ds, "peakRssBytes", "dataset");
    r.dataset.batch_auto = rd.boolean(ds, "batchAuto", "dataset");
    r.dataset.memory_budget = optional_integer(rd, ds, "memoryBudget", "dataset");
    if (r.dataset.format == "corrupted-npy") r.dataset.clean = rd.optional_text(ds, "clean", "dataset");
  }
  const auto& manifests = rd.array(j, "manifests", "");
  for (size_t i = 0; i < manifests.size(); ++i) {
    const auto path = fmt::format("manifests[{}]", i);
    r.manifests.push_back({rd.text(manifests[i], "kind", path), rd.text(manifests[i], "name", path),
                           rd.boolean(manifests[i], "handled", path)});
  }
  r.warnings = rd.texts(j, "warnings", "");
  const auto& models = rd.array(j, "models", "");
  for (size_t i = 0; i < models.size(); ++i) r.models.push_back(read_model(rd, models[i], fmt::format("models[{}]", i)));
  if (v2) {
    r.complete = rd.boolean(j, "complete", "");
    r.interrupted = rd.optional_text(j, "interrupted", "");
    if (!rd.field(j, "baseline", "").is_null()) r.baseline = read_baseline(rd, rd.object(j, "baseline", ""), "baseline");
    const auto& perms = rd.array(j, "permissions", "");
    for (size_t i = 0; i < perms.size(); ++i) {
      const auto p = fmt::format("permissions[{}]", i);
      PermissionCheck c;
      c.path = rd.text(perms[i], "path", p);
      c.manifest = rd.text(perms[i], "manifest", p);
      c.exists = rd.boolean(perms[i], "exists", p);
      c.mode = octal_mode(rd, perms[i], "mode", p);
      c.allowed = octal_mode(rd, perms[i], "allowed", p);
      r.permissions.push_back(c);
    }
    // The job's own findings are the top-level ones without a model; the models' are read above.
    const auto& findings = rd.array(j, "findings", "");
    for (size_t i = 0; i < findings.size(); ++i)
      if (findings[i].is_object() && findings[i].contains("model") && findings[i]["model"].is_null())
        r.job_findings.push_back(read_finding(rd, findings[i], fmt::format("findings[{}]", i)));
  }
  if (j.contains("signature")) r.signature = rd.object(j, "signature", "");
  // The stored verdict must be the one the findings give: a hand-edited verdict is refused.
  if (rd.text(j, "verdict", "") != verdict_name(r.verdict()))
    rd.fail("verdict", fmt::format("says '{}' but the findings give '{}'", rd.text(j, "verdict", ""), verdict_name(r.verdict())));
  return r;
}

ModelResult model_result_from_json(const json& model, const std::string& source) {
  return read_model(Reader(source), model, "model");
}

JobResult read_report(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path.string() + ": report not found or unreadable");
  std::stringstream text;
  text << in.rdbuf();
  if (json_too_deep(text.str()))
    throw InputError(fmt::format("{}: nests deeper than {} levels", path.string(), kMaxJsonDepth));
  const auto j = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw InputError(path.string() + ": not valid JSON");
  return job_result_from_json(j, path.string());
}

}  // namespace modelgate::engine
