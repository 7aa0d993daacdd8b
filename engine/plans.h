#pragma once
// What a job evaluates, resolved: one attack plan per (attack, ε) and one corruption plan per
// (corruption, level), every default and enum settled by engine/config. The runner executes
// them and the renderers describe them; nothing downstream reads the job file's strings.
#include "attacks/options.h"
#include "corruptions/benchmark.h"
#include "engine/severity.h"

#include <cstdint>
#include <optional>
#include <string>

namespace modelgate::engine {

enum class AttackKind { fgsm, pgd, apgd };
std::string to_string(AttackKind k);

/// One attack at one ε.
struct AttackPlan {
  AttackKind kind = AttackKind::pgd;
  std::string manifest;                ///< metadata.name of the AdversarialTesting manifest
  std::string source;                  ///< where the job file sets it: "AdversarialTesting 'adv': spec.attacks[0]"
  attacks::Norm norm = attacks::Norm::linf;
  attacks::ApgdLoss loss = attacks::ApgdLoss::ce;  ///< apgd only
  double epsilon = 8.0 / 255.0;
  int64_t steps = 1;                   ///< 1 for fgsm
  double step_size = 0;                ///< fgsm: ε; pgd: α; apgd: its first step, 2ε
  bool random_start = false;
  int64_t restarts = 1;
  attacks::Target target = attacks::Target::none;
  int64_t target_label = 0;            ///< the class for Target::label
  bool active_set = true;              ///< fooled samples leave the batch
  std::optional<double> min_accuracy;  ///< gate: a finding below it
  Severity severity = Severity::high;

  /// The attack's short name: fgsm, fgm-l2, pgd, pgd-l2, apgd-ce, apgd-dlr-l2.
  std::string name() const;
  /// How progress lines and messages name it: "pgd eps=0.1 steps=20 restarts=2".
  std::string description() const;
  /// The settings that tell two plans of one attack and ε apart, each after a space:
  /// " steps=10 alpha=0.00784 rs x2 →\"leastLikely\"" (fgsm: only a target, if any).
  std::string settings() const;
  /// The finding name of its gate: "adversarial/<name>/eps=<ε>".
  std::string check() const;
};

/// gaussian_noise and gaussian_blur are the seed's noise and blur tests; benchmark is one of the
/// corruption benchmark's 19 at a severity (corruptions/benchmark.h); all three are applied by
/// modelgate. Stored corruptions are read from a corrupted-npy folder (spec.dataset), already
/// applied.
enum class CorruptionKind { gaussian_noise, gaussian_blur, stored, benchmark };
std::string to_string(CorruptionKind k);

/// One corruption at one level.
struct CorruptionPlan {
  CorruptionKind kind = CorruptionKind::gaussian_noise;
  std::string manifest;  ///< metadata.name of the RobustnessTesting manifest ("" for spec.dataset's)
  std::string source;    ///< where the job file sets it: "RobustnessTesting 'rob': spec.tests[0]"
  double level = 0;      ///< gaussian_noise: standard deviation
  int64_t kernel = 0;    ///< gaussian_blur: k of the k×k kernel
  double sigma = 0;      ///< gaussian_blur: the sigma used (OpenCV's default for k when not given)
  std::string name;  ///< benchmark: one of the 19 names; stored: the file stem ("fog" for fog.npy)
  int64_t corruption_severity = 0;  ///< benchmark and stored: 1..5 (stored: the block of the file)
  /// benchmark: the parameter table; unset in a job until the run settles it by image size.
  std::optional<corruptions::Table> table;
  std::optional<double> min_accuracy;
  Severity severity = Severity::high;

  /// "noise level=0.1", "blur 3x3 sigma=0.8", "fog severity=3" or "fog severity=3 (stored)".
  std::string description() const;
  /// "robustness/gaussian_noise/level=0.1", "robustness/gaussian_blur/kernel=3",
  /// "robustness/fog/severity=3" or "robustness/stored/fog/severity=3".
  std::string check() const;
};

/// ε, levels and similar as reports and check names print them: up to 4 significant digits.
std::string number_text(double v);

}  // namespace modelgate::engine
