#include "engine/config_robustness.h"

#include "corruptions/benchmark.h"
#include "kernels/ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace modelgate::engine::fields {
namespace {

// "3x3", "3" or 3 → 3; the kernel must be square and odd.
int64_t blur_kernel(const Doc& d, const YAML::Node& n, const std::string& field) {
  const auto s = text(d, n, field);
  const auto x = s.find_first_of("xX");
  int64_t k = 0, k2 = 0;
  try {
    size_t used = 0;
    const auto first = s.substr(0, x);
    k = k2 = std::stoll(first, &used);
    if (used != first.size()) throw std::invalid_argument(s);
    if (x != std::string::npos) {
      const auto second = s.substr(x + 1);
      k2 = std::stoll(second, &used);
      if (used != second.size()) throw std::invalid_argument(s);
    }
  } catch (const std::logic_error&) {
    d.fail(n, field, fmt::format("expected a kernel size such as 3x3, got '{}'", s));
  }
  if (k2 != k) d.fail(n, field, fmt::format("expected a square kernel such as 3x3, got '{}'", s));
  if (k < 1 || k % 2 == 0 || k > 99)
    d.fail(n, field, fmt::format("expected an odd kernel size from 1 to 99, got '{}'", s));
  return k;
}

std::string benchmark_names() {
  std::string names;
  for (const auto c : corruptions::all_corruptions())
    names += (names.empty() ? "" : ", ") + std::string(corruptions::to_string(c));
  return names;
}

// One of the benchmark's 19: `severity` a level 1..5 or a list of them (default all five) — or,
// as a word, the finding severity, which `findingSeverity` also sets; `parameters` cifar or
// imagenet (default: by image size).
void read_benchmark_test(const Doc& d, const YAML::Node& t, const std::string& f, corruptions::Corruption c,
                         CorruptionPlan p, JobConfig& job) {
  d.warn_unknown(t, f, {"type", "severity", "findingSeverity", "parameters", "minAccuracy"});
  if (!corruptions::implemented(c))
    d.fail(t["type"], f + "type", fmt::format("{} is not implemented in this version of modelgate yet",
                                              corruptions::to_string(c)));
  p.kind = CorruptionKind::benchmark;
  p.name = std::string(corruptions::to_string(c));
  if (const auto& n = t["parameters"]) {
    const auto v = text(d, n, f + "parameters");
    p.table = corruptions::table_from(v);
    if (!p.table) d.fail(n, f + "parameters", fmt::format("expected cifar or imagenet, got '{}'", v));
  }
  std::vector<int64_t> levels{1, 2, 3, 4, 5};
  if (const auto& n = t["severity"]) {
    const bool word = n.IsScalar() && !n.Scalar().empty() && !std::isdigit(static_cast<unsigned char>(n.Scalar()[0]));
    if (word) p.severity = severity(d, n, f + "severity");
    else levels = severity_levels(d, n, f + "severity", 5);
  }
  if (const auto& n = t["findingSeverity"]) p.severity = severity(d, n, f + "findingSeverity");
  for (const auto level : levels) {
    p.corruption_severity = level;
    job.corruptions.push_back(p);
  }
}

// spec.baseline: {model: NAME} (a model of this job) or {report: PATH, model: NAME} (NAME
// optional when the report has one model). Checked against the job's models in load_job.
void read_benchmark_baseline(const Doc& d, const YAML::Node& n, const std::string& name, const fs::path& base,
                             JobConfig& job) {
  if (!n.IsMap()) d.fail(n, "spec.baseline", "expected {model: NAME} or {report: PATH}");
  d.warn_unknown(n, "spec.baseline.", {"model", "report"});
  BenchmarkBaselineSpec b;
  b.manifest = name;
  if (n["model"]) b.model = text(d, n["model"], "spec.baseline.model");
  if (n["report"]) b.report = resolve(base, text(d, n["report"], "spec.baseline.report"));
  if (b.model.empty() && b.report.empty()) d.fail(n, "spec.baseline", "expected {model: NAME} or {report: PATH}");
  if (job.benchmark_baseline)
    d.fail(n, "spec.baseline", fmt::format("the corruption benchmark's baseline is already set by RobustnessTesting '{}'",
                                           job.benchmark_baseline->manifest));
  job.benchmark_baseline = b;
}

}  // namespace

void read_robustness(const Doc& d, const YAML::Node& spec, const std::string& name, const fs::path& base,
                     JobConfig& job) {
  d.warn_unknown(spec, "spec.", {"tests", "schedule", "baseline"});
  if (const auto& n = spec["baseline"]) read_benchmark_baseline(d, n, name, base, job);
  const auto& tests = require(d, spec, "tests", "spec.");
  if (!tests.IsSequence()) d.fail(tests, "spec.tests", "expected a list of tests");
  for (size_t i = 0; i < tests.size(); ++i) {
    const auto& t = tests[i];
    const auto f = fmt::format("spec.tests[{}].", i);
    CorruptionPlan p;
    p.manifest = name;
    p.source = fmt::format("{}: spec.tests[{}]", d.label, i);
    const auto type = text(d, require(d, t, "type", f), f + "type");
    const auto benchmark = corruptions::corruption_from(type);
    if (type != "noise" && type != "blur" && !benchmark)
      d.fail(t["type"], f + "type",
             fmt::format("unknown test '{}' (expected noise, blur or one of the corruption benchmark's: {})", type,
                         benchmark_names()));
    if (t["minAccuracy"]) p.min_accuracy = number_in(d, t["minAccuracy"], f + "minAccuracy", 0, 1, false);
    if (benchmark) {
      read_benchmark_test(d, t, f, *benchmark, p, job);
      continue;
    }
    if (t["severity"]) p.severity = severity(d, t["severity"], f + "severity");
    if (type == "noise") {
      d.warn_unknown(t, f, {"type", "level", "minAccuracy", "severity"});
      p.kind = CorruptionKind::gaussian_noise;
      for (double level : number_list(d, require(d, t, "level", f), f + "level", 0, 1)) {
        p.level = level;
        job.corruptions.push_back(p);
      }
    } else if (type == "blur") {
      d.warn_unknown(t, f, {"type", "kernel", "sigma", "minAccuracy", "severity"});
      p.kind = CorruptionKind::gaussian_blur;
      p.kernel = blur_kernel(d, require(d, t, "kernel", f), f + "kernel");
      p.sigma = t["sigma"] ? number_in(d, t["sigma"], f + "sigma", 0, 100, true) : kernels::default_blur_sigma(p.kernel);
      job.corruptions.push_back(p);
    }
  }
}

// A baseline model of this job must be one of its models; the corruption benchmark's entries
// must be there for it to compare.
void check_benchmark_baseline(const JobConfig& job) {
  if (!job.benchmark_baseline) return;
  const auto& b = *job.benchmark_baseline;
  const auto where = fmt::format("{}: RobustnessTesting '{}': spec.baseline", job.file.string(), b.manifest);
  const bool any = std::any_of(job.corruptions.begin(), job.corruptions.end(), [](const CorruptionPlan& c) {
    return c.kind == CorruptionKind::benchmark || (c.kind == CorruptionKind::stored && corruptions::corruption_from(c.name));
  });
  if (!any)
    throw InputError(where + ": no corruption benchmark test (such as {type: fog}) to compare with the baseline");
  if (!b.report.empty()) return;  // the report's models are checked when it is read
  const bool known = std::any_of(job.models.begin(), job.models.end(), [&](const ModelEntry& m) { return m.name == b.model; });
  if (!known) throw InputError(fmt::format("{}.model: '{}' is not one of the job's models", where, b.model));
}

}  // namespace modelgate::engine::fields
