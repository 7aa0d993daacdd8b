#include "engine/benchmark_summary.h"

#include "corruptions/benchmark.h"
#include "engine/errors.h"
#include "engine/report/json_report.h"

#include <fmt/format.h>

#include <map>

namespace modelgate::engine {
namespace {

// Error per severity of each benchmark corruption the model has entries for.
std::map<corruptions::Corruption, std::map<int64_t, double>> errors_of(const ModelResult& m) {
  std::map<corruptions::Corruption, std::map<int64_t, double>> out;
  for (const auto& c : m.corruptions) {
    if (c.plan.kind != CorruptionKind::benchmark && c.plan.kind != CorruptionKind::stored) continue;
    const auto name = corruptions::corruption_from(c.plan.name);
    if (!name || c.score.total == 0) continue;
    out[*name][c.plan.corruption_severity] = 1.0 - c.score.accuracy();
  }
  return out;
}

std::optional<double> clean_error(const ModelResult& m) {
  if (m.clean.total == 0) return std::nullopt;
  return 1.0 - m.clean.accuracy();
}

std::optional<double> mean(const std::vector<double>& v) {
  if (v.empty()) return std::nullopt;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

}  // namespace

std::optional<BenchmarkSummary> summarise_benchmark(const ModelResult& m, const ModelResult* baseline,
                                                    const std::string& label) {
  const auto mine = errors_of(m);
  if (mine.empty()) return std::nullopt;
  const auto base = baseline ? errors_of(*baseline) : decltype(mine){};
  BenchmarkSummary s;
  s.baseline = baseline ? label : "";
  s.clean_error = clean_error(m);
  if (baseline) s.baseline_clean_error = clean_error(*baseline);
  std::vector<double> ces, relative, all_errors;
  int complete_rows = 0;
  for (const auto& [name, by_severity] : mine) {
    BenchmarkRow row;
    row.name = std::string(corruptions::to_string(name));
    row.in_mean = corruptions::in_mean_error(name);
    double sum = 0, sum_base = 0, rel = 0, rel_base = 0;
    int paired = 0;
    const auto b = base.find(name);
    for (const auto& [severity, error] : by_severity) {
      row.severities.push_back(severity);
      row.errors.push_back(error);
      if (row.in_mean) all_errors.push_back(error);
      if (b == base.end() || !b->second.count(severity)) continue;
      const double eb = b->second.at(severity);
      sum += error;
      sum_base += eb;
      if (s.clean_error && s.baseline_clean_error) {
        rel += error - *s.clean_error;
        rel_base += eb - *s.baseline_clean_error;
      }
      ++paired;
    }
    if (paired > 0 && sum_base > 0) row.ce = sum / sum_base;
    if (paired > 0 && s.clean_error && s.baseline_clean_error && rel_base > 0) row.relative_ce = rel / rel_base;
    if (row.in_mean) {
      if (row.ce) ces.push_back(*row.ce);
      if (row.relative_ce) relative.push_back(*row.relative_ce);
      const bool all_five = row.severities.size() == 5 && (!baseline || paired == 5);
      complete_rows += all_five;
    }
    s.rows.push_back(std::move(row));
  }
  s.mce = mean(ces);
  s.relative_mce = mean(relative);
  s.mean_error = mean(all_errors);
  s.complete = complete_rows == corruptions::kInMeanError && (!baseline || static_cast<int>(ces.size()) == corruptions::kInMeanError);
  return s;
}

std::optional<ReportBaseline> read_benchmark_baseline(const JobConfig& job) {
  if (!job.benchmark_baseline || job.benchmark_baseline->report.empty()) return std::nullopt;
  const auto& b = *job.benchmark_baseline;
  const auto report = read_report(b.report);  // unreadable: InputError naming the file and field
  const ModelResult* found = nullptr;
  if (b.model.empty()) {
    if (report.models.size() != 1)
      throw InputError(fmt::format("{}: RobustnessTesting '{}': spec.baseline: {} has {} models; name one with "
                                   "spec.baseline.model",
                                   job.file.string(), b.manifest, b.report.string(), report.models.size()));
    found = &report.models[0];
  } else {
    for (const auto& m : report.models)
      if (m.name == b.model) found = &m;
    if (!found)
      throw InputError(fmt::format("{}: RobustnessTesting '{}': spec.baseline.model: no model '{}' in {}", job.file.string(),
                                   b.manifest, b.model, b.report.string()));
  }
  return ReportBaseline{*found, fmt::format("report {}, model {}", b.report.string(), found->name)};
}

void attach_benchmark_summaries(const JobConfig& job, const std::optional<ReportBaseline>& from_report,
                                std::vector<ModelResult>& models) {
  const ModelResult* base = from_report ? &from_report->model : nullptr;
  std::string label = from_report ? from_report->label : "";
  if (job.benchmark_baseline && !from_report) {
    for (const auto& m : models)
      if (m.name == job.benchmark_baseline->model) base = &m;
    label = "model " + job.benchmark_baseline->model;
  }
  // The summaries are computed first: `base` may be one of `models`.
  std::vector<std::optional<BenchmarkSummary>> summaries;
  for (const auto& m : models) summaries.push_back(summarise_benchmark(m, base, label));
  for (size_t i = 0; i < models.size(); ++i) models[i].benchmark = std::move(summaries[i]);
}

}  // namespace modelgate::engine
