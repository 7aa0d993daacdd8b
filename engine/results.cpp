#include "engine/results.h"

#include "engine/report/files.h"

#include <algorithm>

namespace modelgate::engine {

Action JobResult::verdict() const {
  Action worst = Action::pass;
  for (const auto& f : job_findings) worst = std::max(worst, f.action);
  for (const auto& m : models)
    for (const auto& f : m.findings) worst = std::max(worst, f.action);
  return worst;
}

std::vector<ModelFinding> JobResult::findings() const {
  std::vector<ModelFinding> out;
  for (const auto& f : job_findings) out.push_back({"", f});
  for (const auto& m : models)
    for (const auto& f : m.findings) out.push_back({m.name, f});
  return out;
}

double JobResult::run_seconds() const {
  const auto a = epoch_seconds(started_at), b = epoch_seconds(finished_at);
  return a && b && *b >= *a ? *b - *a : 0.0;
}

std::string verdict_name(Action verdict) {
  return verdict == Action::block ? "block" : verdict == Action::review ? "review" : "pass";
}

}  // namespace modelgate::engine
