#include "engine/findings.h"

#include <fmt/format.h>

namespace modelgate::engine {
namespace {

// A finding when an accuracy falls below its minimum.
void check_threshold(const JobConfig& job, std::vector<Finding>& out, const std::string& check,
                     const std::optional<double>& minimum, Severity severity, double observed,
                     const std::string& description) {
  if (!minimum || observed >= *minimum) return;
  out.push_back({check, severity, job.action_for(severity),
                 fmt::format("{} is {:.2f}%, below the minimum {:.2f}%", description, 100 * observed, 100 * *minimum),
                 observed, *minimum});
}

// Sanity findings (AutoAttack's checks) are high severity: they put the figures in doubt.
void add_sanity(const JobConfig& job, std::vector<Finding>& out, const std::string& check, const std::string& message,
                double observed, double threshold) {
  out.push_back({check, Severity::high, job.action_for(Severity::high), message, observed, threshold});
}

}  // namespace

std::vector<Finding> derive_findings(const JobConfig& job, const ModelResult& result, const ModelChecks& checks) {
  std::vector<Finding> out;
  if (checks.probability_outputs)
    add_sanity(job, out, "sanity/probability-outputs",
               "the model's outputs are non-negative and sum to 1: it returns probabilities, not logits, so gradient "
               "attacks are weakened and robust accuracy is overestimated",
               1.0, 0.0);
  for (const auto& a : result.attacks) {
    const auto& p = a.plan;
    check_threshold(job, out, p.check(), p.min_accuracy, p.severity, a.robust.accuracy(),
                    "robust accuracy under " + p.description());
    if (a.zero_gradient_fraction > kZeroGradientLimit)
      add_sanity(job, out, fmt::format("sanity/zero-gradients/{}/eps={}", p.name(), number_text(p.epsilon)),
                 fmt::format("{:.1f}% of samples had all-zero input gradients under {}: the robust accuracy may be "
                             "overestimated (gradient masking)",
                             100 * a.zero_gradient_fraction, p.description()),
                 a.zero_gradient_fraction, kZeroGradientLimit);
  }
  for (const auto& c : result.corruptions)
    check_threshold(job, out, c.plan.check(), c.plan.min_accuracy, c.plan.severity, c.score.accuracy(),
                    "accuracy under " + c.plan.description());
  return out;
}

}  // namespace modelgate::engine
