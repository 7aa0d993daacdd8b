#pragma once
// "Did it get worse since yesterday?": one run's figures against an earlier run's, model by
// model and check by check. `validate` turns the drops into findings; `modelgate diff` prints them.
#include "engine/results.h"

#include <optional>
#include <string>
#include <vector>

namespace modelgate::engine {

/// One figure present in both runs.
struct ComparedCheck {
  std::string model;
  std::string check;  ///< "clean", "adversarial/pgd/eps=0.1/steps=10", "robustness/gaussian_noise/level=0.1"
  double before = 0, after = 0;
  double drop() const { return before - after; }
};

/// Everything two runs have in common, and what only one of them has.
struct BaselineComparison {
  std::vector<ComparedCheck> checks;              ///< in the newer run's order
  std::vector<std::string> only_before;           ///< "model: check" present only in the earlier run
  std::vector<std::string> only_after;            ///< … only in the newer one
  std::vector<std::string> models_only_before, models_only_after;
  std::vector<std::string> changed_sha256;        ///< models whose file digest differs (information only)
  /// The checks whose figure dropped by more than `max_drop` (absolute).
  std::vector<ComparedCheck> drops(double max_drop) const;
};

/// Compares `after` with `before`: models by name; clean accuracy; robust accuracy of the same
/// attack, norm, loss, ε and steps (and restarts, target, random start where they differ);
/// corruption accuracy of the same corruption and level. Skipped checks are not in a result's
/// lists, so they show as present on one side only.
BaselineComparison compare_runs(const JobResult& before, const JobResult& after);

/// The findings `validate` adds for a baseline: one `regression/<check>` per drop beyond
/// `max_drop`, with both values, at `severity` (action from the job's severity map).
std::vector<std::pair<std::string, Finding>> regression_findings(const BaselineComparison& c, double max_drop,
                                                                 Severity severity, Action action);

/// The text table `modelgate diff` prints: one row per compared check, drops beyond the limit
/// marked, then what could not be compared.
std::string comparison_table(const BaselineComparison& c, double max_drop);

}  // namespace modelgate::engine
