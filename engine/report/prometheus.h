#pragma once
// A Prometheus text-format file for node_exporter's textfile collector.
#include "engine/results.h"

#include <string>

namespace modelgate::engine {

/// The metrics of a run, with HELP and TYPE lines (all gauges):
/// modelgate_clean_accuracy{job,model}, modelgate_robust_accuracy{job,model,attack,norm,epsilon,steps},
/// modelgate_corruption_accuracy{job,model,corruption,level}, modelgate_findings{job,model,severity,action}
/// (every severity × action, zeros included; model "" for the job's own findings),
/// modelgate_skipped_checks{job,model}, modelgate_complete{job}, modelgate_run_seconds{job},
/// modelgate_last_run_timestamp_seconds{job} (when the run finished) and modelgate_verdict{job}
/// (the exit code: 0 pass, 1 review, 2 block, 4 interrupted); with the monitoring manifests also
/// batch-1 latency quantiles, throughput, error rate, peak RSS and CPU share per model. Series
/// that would share every label (the same attack at the same ε and steps, with other restarts or
/// targets) get a `variant` label with their settings.
std::string prometheus_text(const JobResult& result);

}  // namespace modelgate::engine
