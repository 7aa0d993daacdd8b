#pragma once
// When a run must stop early: a signal (SIGTERM/SIGINT from cron, systemd, Kubernetes or Slurm),
// the job's time budget, or a manifest's own budget (its schedule.duration). Evaluations ask at
// every batch boundary; the runner records what was skipped and why.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace modelgate::engine {

/// Thrown at a batch boundary when the run must stop; carries the reason.
struct StopRequested : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Budgets and the signal flag of one run. Not thread-safe apart from the signal flag.
class StopControl {
 public:
  using Clock = std::chrono::steady_clock;

  /// `signal` (may be null) holds the number of the first termination signal received, 0 before.
  explicit StopControl(const std::atomic<int>* signal = nullptr) : signal_(signal), start_(Clock::now()) {}

  /// The whole job may take `seconds` of wall-clock time from construction.
  void set_job_budget(double seconds) { job_budget_ = seconds; }
  /// The checks of manifest `name` may take `seconds` of evaluation time in all.
  void set_manifest_budget(const std::string& name, double seconds) { manifest_budget_[name] = seconds; }

  /// Why checks of `manifest` must not run (now), or nullopt. `running` is the time the current
  /// evaluation of that manifest has taken so far (not yet charged).
  std::optional<std::string> reason(const std::string& manifest, double running = 0) const;
  /// Adds an evaluation's time to its manifest.
  void charge(const std::string& manifest, double seconds) { spent_[manifest] += seconds; }

  /// The signal received, if any (SIGTERM, SIGINT), by name.
  std::optional<std::string> signal_name() const;
  /// True when the reason stops the whole job (signal or job budget), not just one manifest.
  bool job_stopped() const;
  /// True when the job budget (not a signal or a manifest budget) ran out.
  bool job_budget_exceeded() const;
  /// Manifests whose budget ran out.
  std::vector<std::string> exhausted_manifests() const;

  /// What is left of the job budget, in seconds (nullopt: no job budget). A model worker gets it.
  std::optional<double> job_seconds_left() const {
    if (!job_budget_) return std::nullopt;
    return std::max(0.0, *job_budget_ - elapsed());
  }
  /// What is left of each manifest budget, in seconds.
  std::map<std::string, double> manifest_seconds_left() const {
    std::map<std::string, double> out;
    for (const auto& [name, budget] : manifest_budget_) {
      const auto s = spent_.find(name);
      out[name] = std::max(0.0, budget - (s == spent_.end() ? 0.0 : s->second));
    }
    return out;
  }
  /// Evaluation seconds charged so far, per manifest.
  const std::map<std::string, double>& spent() const { return spent_; }

 private:
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  const std::atomic<int>* signal_;
  Clock::time_point start_;
  std::optional<double> job_budget_;
  std::map<std::string, double> manifest_budget_, spent_;
};

/// A duration in seconds as job files write it: "90m", "2h", "30s", "100ms", "1.5h" or a number
/// of seconds.
/// nullopt for anything else.
std::optional<double> parse_duration(const std::string& text);

}  // namespace modelgate::engine
