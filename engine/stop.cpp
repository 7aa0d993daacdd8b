#include "engine/stop.h"

#include <fmt/format.h>

#include <csignal>
#include <cmath>
#include <vector>

namespace modelgate::engine {

std::optional<std::string> StopControl::signal_name() const {
  const int s = signal_ ? signal_->load() : 0;
  if (s == 0) return std::nullopt;
  return s == SIGTERM ? "SIGTERM" : s == SIGINT ? "SIGINT" : fmt::format("signal {}", s);
}

bool StopControl::job_budget_exceeded() const { return job_budget_ && elapsed() >= *job_budget_; }

bool StopControl::job_stopped() const { return signal_name().has_value() || job_budget_exceeded(); }

std::optional<std::string> StopControl::reason(const std::string& manifest, double running) const {
  if (const auto s = signal_name()) return fmt::format("interrupted by {}", *s);
  if (job_budget_exceeded()) return fmt::format("the job's time budget of {:.0f} s ran out", *job_budget_);
  const auto b = manifest_budget_.find(manifest);
  if (b != manifest_budget_.end()) {
    const auto s = spent_.find(manifest);
    const double used = (s == spent_.end() ? 0.0 : s->second) + running;
    if (used >= b->second) return fmt::format("the time budget of manifest '{}' ({:.0f} s) ran out", manifest, b->second);
  }
  return std::nullopt;
}

std::vector<std::string> StopControl::exhausted_manifests() const {
  std::vector<std::string> out;
  for (const auto& [name, budget] : manifest_budget_) {
    const auto s = spent_.find(name);
    if (s != spent_.end() && s->second >= budget) out.push_back(name);
  }
  return out;
}

std::optional<double> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t used = 0;
  double v;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const auto unit = text.substr(used);
  double scale;
  if (unit.empty() || unit == "s") scale = 1;
  else if (unit == "ms") scale = 1e-3;
  else if (unit == "m" || unit == "min") scale = 60;
  else if (unit == "h") scale = 3600;
  else if (unit == "d") scale = 86400;
  else return std::nullopt;
  if (!std::isfinite(v) || v <= 0) return std::nullopt;
  return v * scale;
}

}  // namespace modelgate::engine
