#pragma once
// Projected gradient descent in L∞ and L2 (Madry et al.), with FGSM/FGM as its one-step case,
// seeded random starts, restarts, targeted modes and an active set.
#include "attacks/attack_result.h"
#include "attacks/model_fn.h"
#include "attacks/options.h"

#include <cstdint>
#include <string>

namespace modelgate::attacks {

/// Options of a PGD attack.
struct PgdOptions {
  Norm norm = Norm::linf;
  double epsilon = 8.0 / 255.0;  ///< radius of the ball around the clean input
  int64_t steps = 10;            ///< gradient steps per restart
  double step_size = -1;         ///< alpha; ≤ 0 selects 2.5·epsilon/steps
  bool random_start = true;      ///< start each restart at a seeded point in the ball
  int64_t restarts = 1;          ///< independent runs; a sample is fooled if any run fools it
  uint64_t seed = 0;             ///< seeds random starts and random targets
  Target target = Target::none;
  int64_t target_label = 0;      ///< the class for Target::label
  /// Fooled samples leave the batch (compacted), which saves their remaining steps; results
  /// equal attacking every sample. Off, every sample runs every step and the last iterate is kept.
  bool active_set = true;
};

/// FGSM (L∞) or FGM (L2): one step of size epsilon from the clean input.
PgdOptions fgsm_options(Norm norm, double epsilon);

/// The step size PGD uses for `opts`: opts.step_size, or 2.5·epsilon/steps when unset.
double pgd_step_size(const PgdOptions& opts);

/// Attacks the batch (x, y). `first_index` is the dataset index of x[0]: it keys random starts
/// and random targets, so a sample's attack does not depend on batching or the active set.
AttackResult run_pgd(const ModelFn& model, const at::Tensor& x, const at::Tensor& y, const PgdOptions& opts,
                     int64_t first_index = 0);

/// The textbook L∞ PGD last iterate (no active set); kept for tests and simple callers.
at::Tensor pgd_linf(const ModelFn& model, const at::Tensor& x, const at::Tensor& y, const PgdOptions& opts,
                    int64_t first_index = 0);

}  // namespace modelgate::attacks
