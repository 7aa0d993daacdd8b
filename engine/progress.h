#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace modelgate::engine {

/// Where a run reports progress: lines (one per finished evaluation, notes) and ticks (each
/// batch of a long evaluation: what, batches done, batches in all, seconds so far). The CLI
/// draws ticks as a live bar on a terminal and as a line every few seconds elsewhere.
struct Progress {
  std::function<void(const std::string&)> line = [](const std::string&) {};
  std::function<void(const std::string&, int64_t, int64_t, double)> tick = [](const std::string&, int64_t, int64_t,
                                                                               double) {};
  void operator()(const std::string& text) const { line(text); }
};

}  // namespace modelgate::engine
