#pragma once
// RobustnessTesting's readers: the seed's noise and blur tests, the corruption benchmark's 19
// (severity levels, parameter tables) and its spec.baseline for CE and mCE.
#include "engine/config.h"
#include "engine/config_fields.h"

namespace modelgate::engine::fields {

/// spec.tests into job.corruptions (one plan per level or severity) and spec.baseline into
/// job.benchmark_baseline. The manifest's schedule is read by the caller.
void read_robustness(const Doc& d, const YAML::Node& spec, const std::string& name, const fs::path& base,
                     JobConfig& job);

/// A baseline named as a job model must be one of them, and the job must have benchmark tests.
void check_benchmark_baseline(const JobConfig& job);

}  // namespace modelgate::engine::fields
