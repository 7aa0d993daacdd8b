#include "engine/regression.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <set>

namespace modelgate::engine {
namespace {

// The figures of one model by check key. A key names what must match between runs (attack,
// norm, loss, ε and steps; corruption and level); plans sharing a key within one run are told
// apart by their other settings.
std::vector<std::pair<std::string, double>> figures(const ModelResult& m) {
  std::vector<std::pair<std::string, std::string>> keyed;  // (base key, settings)
  std::vector<double> values;
  if (m.clean.total > 0) {  // 0 of 0: not run (skipped, or a corrupted-npy set without clean samples), as a skipped attack
    keyed.emplace_back("clean", "");
    values.push_back(m.clean.accuracy());
  }
  for (const auto& a : m.attacks) {
    keyed.emplace_back(fmt::format("adversarial/{}/eps={}/steps={}", a.plan.name(), number_text(a.plan.epsilon), a.plan.steps),
                       a.plan.settings());
    values.push_back(a.robust.accuracy());
  }
  for (const auto& c : m.corruptions) {
    keyed.emplace_back(c.plan.check(), c.plan.description());
    values.push_back(c.score.accuracy());
  }
  std::map<std::string, int> count;
  for (const auto& [k, _] : keyed) ++count[k];
  std::vector<std::pair<std::string, double>> out;
  for (size_t i = 0; i < keyed.size(); ++i) {
    const auto& [k, detail] = keyed[i];
    out.emplace_back(count[k] > 1 ? fmt::format("{} [{}]", k, detail) : k, values[i]);
  }
  return out;
}

}  // namespace

std::vector<ComparedCheck> BaselineComparison::drops(double max_drop) const {
  std::vector<ComparedCheck> out;
  // A tolerance for the rounding of accuracies: a drop of exactly max_drop is not beyond it.
  for (const auto& c : checks)
    if (c.drop() > max_drop + 1e-12) out.push_back(c);
  return out;
}

BaselineComparison compare_runs(const JobResult& before, const JobResult& after) {
  BaselineComparison out;
  std::map<std::string, const ModelResult*> old_models;
  for (const auto& m : before.models) old_models[m.name] = &m;
  std::set<std::string> seen;
  for (const auto& m : after.models) {
    seen.insert(m.name);
    const auto it = old_models.find(m.name);
    if (it == old_models.end()) {
      out.models_only_after.push_back(m.name);
      continue;
    }
    const ModelResult& old = *it->second;
    if (old.sha256 != m.sha256) out.changed_sha256.push_back(m.name);
    std::map<std::string, double> old_figures;
    for (const auto& [k, v] : figures(old)) old_figures[k] = v;
    std::set<std::string> matched;
    for (const auto& [k, v] : figures(m)) {
      const auto f = old_figures.find(k);
      if (f == old_figures.end()) {
        out.only_after.push_back(m.name + ": " + k);
      } else {
        out.checks.push_back({m.name, k, f->second, v});
        matched.insert(k);
      }
    }
    for (const auto& [k, _] : old_figures)
      if (!matched.count(k)) out.only_before.push_back(m.name + ": " + k);
  }
  for (const auto& m : before.models)
    if (!seen.count(m.name)) out.models_only_before.push_back(m.name);
  return out;
}

std::vector<std::pair<std::string, Finding>> regression_findings(const BaselineComparison& c, double max_drop,
                                                                 Severity severity, Action action) {
  std::vector<std::pair<std::string, Finding>> out;
  for (const auto& d : c.drops(max_drop))
    out.emplace_back(d.model, Finding{"regression/" + d.check, severity, action,
                                      fmt::format("{} fell from {:.2f}% to {:.2f}% since the baseline (a drop of {:.2f} "
                                                  "points, more than the {:.2f} allowed)",
                                                  d.check, 100 * d.before, 100 * d.after, 100 * d.drop(), 100 * max_drop),
                                      d.after, d.before - max_drop, d.before});
  return out;
}

std::string comparison_table(const BaselineComparison& c, double max_drop) {
  size_t width = 5;
  for (const auto& r : c.checks) width = std::max(width, r.model.size() + 2 + r.check.size());
  std::string s = fmt::format("{:<{}}  {:>9}  {:>9}  {:>8}\n", "check", width, "before", "after", "change");
  for (const auto& r : c.checks) {
    const bool bad = r.drop() > max_drop + 1e-12;
    s += fmt::format("{:<{}}  {:>8.2f}%  {:>8.2f}%  {:>+7.2f}{}\n", r.model + ": " + r.check, width, 100 * r.before,
                     100 * r.after, 100 * (r.after - r.before) + 0.0, bad ? "  DROP" : "");
  }
  auto list = [&](const char* what, const std::vector<std::string>& items) {
    if (!items.empty()) s += fmt::format("{}: {}\n", what, fmt::join(items, ", "));
  };
  list("only in the older report", c.only_before);
  list("only in the newer report", c.only_after);
  list("models only in the older report", c.models_only_before);
  list("models only in the newer report", c.models_only_after);
  list("model files changed (sha256)", c.changed_sha256);
  const auto drops = c.drops(max_drop);
  s += drops.empty() ? fmt::format("no drop beyond {:.2f} points\n", 100 * max_drop)
                     : fmt::format("{} drop(s) beyond {:.2f} points\n", drops.size(), 100 * max_drop);
  return s;
}

}  // namespace modelgate::engine
