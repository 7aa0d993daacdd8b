#pragma once
// The corruption benchmark's summary: CE per corruption, mCE and relative mCE against a
// baseline model, and the unnormalised mean error (Hendrycks and Dietterich, ICLR 2019, §3).
#include "engine/results.h"

#include <optional>
#include <string>
#include <vector>

namespace modelgate::engine {

/// The summary of `m`'s benchmark entries (generated, or stored ones whose file is named after a
/// benchmark corruption); against `baseline` when given, described as `label`. nullopt when `m`
/// has none.
std::optional<BenchmarkSummary> summarise_benchmark(const ModelResult& m, const ModelResult* baseline,
                                                    const std::string& label);

/// A baseline from an earlier report (RobustnessTesting spec.baseline.report), read before the
/// run so that a bad file stops it with nothing evaluated. nullopt when the job names none or
/// names one of its own models.
struct ReportBaseline {
  ModelResult model;
  std::string label;
};
std::optional<ReportBaseline> read_benchmark_baseline(const JobConfig& job);

/// Sets every model's `benchmark` summary, against the job's baseline model or `from_report`.
void attach_benchmark_summaries(const JobConfig& job, const std::optional<ReportBaseline>& from_report,
                                std::vector<ModelResult>& models);

}  // namespace modelgate::engine
