#include "engine/monitoring.h"

#include <ATen/DeviceAccelerator.h>
#include <fmt/format.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <string>

namespace modelgate::engine {
namespace {

double cpu_seconds_now() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// A "Key:   123 kB" line of /proc/self/status or /proc/meminfo, in bytes.
int64_t proc_kb(const char* file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return 1024 * std::stoll(line.substr(key.size() + 1));
  return 0;
}

int64_t usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return 1;
}

Finding limit_finding(const JobConfig& job, const std::string& check, const std::string& what, double observed,
                      double limit, Severity severity) {
  return {check, severity, job.action_for(severity),
          fmt::format("{} was {:.1f}%, above the limit {:.1f}%", what, 100 * observed, 100 * limit), observed, limit, std::nullopt};
}

}  // namespace

int64_t peak_rss_bytes() {
  if (const auto hwm = proc_kb("/proc/self/status", "VmHWM")) return hwm;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return 1024 * static_cast<int64_t>(u.ru_maxrss);
}

LatencyStats latency_stats(std::vector<double> ms) {
  LatencyStats s;
  s.count = static_cast<int64_t>(ms.size());
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  auto rank = [&](double p) { return ms[static_cast<size_t>(std::max(0.0, std::ceil(p * ms.size()) - 1))]; };
  s.mean_ms = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
  s.p50_ms = rank(0.50);
  s.p95_ms = rank(0.95);
  s.p99_ms = rank(0.99);
  s.max_ms = ms.back();
  return s;
}

ResourceMeter::ResourceMeter(const c10::Device& device) : device_(device), start_(std::chrono::steady_clock::now()) {
  // Resets VmHWM to the current RSS (Linux ≥ 4.0), so each model gets its own peak.
  std::ofstream("/proc/self/clear_refs") << "5";
  if (device_.is_cuda()) at::accelerator::resetPeakStats(device_.index());
  cpu_start_ = cpu_seconds_now();
}

ResourceFigures ResourceMeter::finish(const std::string& manifest) const {
  ResourceFigures r;
  r.manifest = manifest;
  r.peak_rss_bytes = peak_rss_bytes();
  r.memory_total_bytes = proc_kb("/proc/meminfo", "MemTotal");
  r.cpu_seconds = cpu_seconds_now() - cpu_start_;
  r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  r.cores = usable_cores();
  if (device_.is_cuda()) {
    // The caching allocator's high-water mark of memory reserved from the device: what the run
    // kept from other processes, which is what a limit on GPU memory is about.
    const auto stats = at::accelerator::getDeviceStats(device_.index());
    r.gpu_peak_bytes = stats.reserved_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
    r.gpu_total_bytes = static_cast<int64_t>(at::accelerator::getMemoryInfo(device_.index()).second);
  }
  return r;
}

std::vector<Finding> monitoring_findings(const JobConfig& job, const ModelResult& m) {
  std::vector<Finding> out;
  if (job.inference && m.inference) {
    const auto& spec = *job.inference;
    const auto& f = *m.inference;
    if (spec.latency_ms && f.single.p99_ms > *spec.latency_ms)
      out.push_back({"monitoring/latency", spec.severity, job.action_for(spec.severity),
                     fmt::format("batch-1 latency p99 was {:.2f} ms over {} requests, above the alert threshold {:.2f} ms",
                                 f.single.p99_ms, f.single.count, *spec.latency_ms),
                     f.single.p99_ms, *spec.latency_ms, std::nullopt});
    if (spec.error_rate && f.error_rate() > *spec.error_rate)
      out.push_back({"monitoring/error_rate", spec.severity, job.action_for(spec.severity),
                     fmt::format("{} of {} batches failed (non-finite outputs or an exception): error rate {:.4f}, above "
                                 "the alert threshold {:.4f}",
                                 f.failed_batches, f.batches, f.error_rate(), *spec.error_rate),
                     f.error_rate(), *spec.error_rate, std::nullopt});
  }
  if (job.resources && m.resources) {
    const auto& spec = *job.resources;
    const auto& r = *m.resources;
    if (spec.cpu && r.cpu_share() > *spec.cpu)
      out.push_back(limit_finding(job, "monitoring/cpu", fmt::format("CPU use ({:.1f} s of CPU in {:.1f} s on {} cores)",
                                                                    r.cpu_seconds, r.wall_seconds, r.cores),
                                  r.cpu_share(), *spec.cpu, spec.severity));
    if (spec.memory && r.memory_share() > *spec.memory)
      out.push_back(limit_finding(job, "monitoring/memory",
                                  fmt::format("peak resident memory ({:.0f} MiB of {:.0f} MiB)", r.peak_rss_bytes / 1048576.0,
                                              r.memory_total_bytes / 1048576.0),
                                  r.memory_share(), *spec.memory, spec.severity));
    if (spec.gpu && r.gpu_share() && *r.gpu_share() > *spec.gpu)
      out.push_back(limit_finding(job, "monitoring/gpu", "peak GPU memory", *r.gpu_share(), *spec.gpu, spec.severity));
  }
  return out;
}

}  // namespace modelgate::engine
