#pragma once
// The figures of the seed's InferenceMonitoring and ResourceMonitoring manifests, taken from
// what the OS exposes (getrusage, /proc) and LibTorch's CUDA allocator, without a polling thread
// that would skew the timings.
#include "engine/results.h"

#include <c10/core/Device.h>

#include <chrono>
#include <vector>

namespace modelgate::engine {

/// This process's peak resident memory since it started (or since a ResourceMeter reset it): the
/// kernel's VmHWM, which starts afresh at exec (ru_maxrss does not: it keeps the high-water mark
/// of the process that forked this one).
int64_t peak_rss_bytes();

/// Percentiles (nearest rank), mean and maximum of latencies in milliseconds.
LatencyStats latency_stats(std::vector<double> ms);

/// Measures the process's resource use from construction to finish(): peak resident memory
/// (the kernel's high-water mark, reset at construction where /proc/self/clear_refs allows),
/// CPU time against wall time and the cores the process may use, and on a CUDA device the
/// caching allocator's peak against the device's memory.
class ResourceMeter {
 public:
  explicit ResourceMeter(const c10::Device& device);
  ResourceFigures finish(const std::string& manifest) const;

 private:
  c10::Device device_;
  std::chrono::steady_clock::time_point start_;
  double cpu_start_ = 0;
};

/// The findings of the monitoring manifests' thresholds on one model's figures.
std::vector<Finding> monitoring_findings(const JobConfig& job, const ModelResult& result);

}  // namespace modelgate::engine
