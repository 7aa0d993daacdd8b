#include "engine/plans.h"

#include <fmt/format.h>

namespace modelgate::engine {

std::string to_string(AttackKind k) {
  switch (k) {
    case AttackKind::fgsm: return "fgsm";
    case AttackKind::pgd: return "pgd";
    case AttackKind::apgd: return "apgd";
  }
  return "?";
}

std::string to_string(CorruptionKind k) {
  switch (k) {
    case CorruptionKind::gaussian_noise: return "gaussian_noise";
    case CorruptionKind::gaussian_blur: return "gaussian_blur";
    case CorruptionKind::stored: return "stored";
    case CorruptionKind::benchmark: return "benchmark";
  }
  return "?";
}

std::string number_text(double v) { return fmt::format("{:.4g}", v); }

std::string AttackPlan::name() const {
  const bool l2 = norm == attacks::Norm::l2;
  const std::string base = kind == AttackKind::apgd   ? "apgd-" + attacks::to_string(loss)
                           : kind == AttackKind::fgsm ? (l2 ? "fgm" : "fgsm")
                                                      : "pgd";
  return l2 ? base + "-l2" : base;
}

std::string AttackPlan::description() const {
  if (kind == AttackKind::fgsm) return fmt::format("{} eps={}", name(), number_text(epsilon));
  return fmt::format("{} eps={} steps={}{}", name(), number_text(epsilon), steps,
                     restarts > 1 ? fmt::format(" restarts={}", restarts) : "");
}

std::string AttackPlan::settings() const {
  std::string s;
  if (kind != AttackKind::fgsm)
    s = fmt::format(" steps={} alpha={:.3g}{}", steps, step_size, random_start ? " rs" : "");
  if (restarts > 1) s += fmt::format(" x{}", restarts);
  switch (target) {
    case attacks::Target::none: break;
    case attacks::Target::label: s += fmt::format(" →{}", target_label); break;
    case attacks::Target::least_likely: s += " →\"leastLikely\""; break;
    case attacks::Target::random: s += " →\"random\""; break;
  }
  return s;
}

std::string AttackPlan::check() const { return fmt::format("adversarial/{}/eps={}", name(), number_text(epsilon)); }

std::string CorruptionPlan::description() const {
  if (kind == CorruptionKind::stored) return fmt::format("{} severity={} (stored)", name, corruption_severity);
  if (kind == CorruptionKind::benchmark) return fmt::format("{} severity={}", name, corruption_severity);
  if (kind == CorruptionKind::gaussian_noise) return fmt::format("noise level={}", number_text(level));
  return fmt::format("blur {}x{} sigma={:.3g}", kernel, kernel, sigma);
}

std::string CorruptionPlan::check() const {
  if (kind == CorruptionKind::stored) return fmt::format("robustness/stored/{}/severity={}", name, corruption_severity);
  if (kind == CorruptionKind::benchmark) return fmt::format("robustness/{}/severity={}", name, corruption_severity);
  if (kind == CorruptionKind::gaussian_noise) return fmt::format("robustness/gaussian_noise/level={}", number_text(level));
  return fmt::format("robustness/gaussian_blur/kernel={}", kernel);
}

}  // namespace modelgate::engine
