#pragma once
#include "attacks/model_fn.h"

#include <cstdint>

namespace modelgate::attacks {

/// Options of an L∞ PGD attack.
struct PgdOptions {
  double epsilon = 8.0 / 255.0;  ///< radius of the L∞ ball around the clean input
  int64_t steps = 10;            ///< number of gradient steps
  double step_size = -1;         ///< alpha; ≤ 0 selects 2.5·epsilon/steps
  bool random_start = true;      ///< start at a seeded uniform point in the ball
  uint64_t seed = 0;             ///< seed of the random start
};

/// The step size PGD uses for `opts`: opts.step_size, or 2.5·epsilon/steps when unset.
double pgd_step_size(const PgdOptions& opts);

/// PGD L∞: from x (or a seeded uniform start in the eps-ball, clamped to [0,1]), `steps`
/// times x ← clamp(min(max(x + α·sign(∇), x0 − ε), x0 + ε), 0, 1). Returns the last iterate.
/// `first_index` is the dataset index of x[0]; it keys the random start so that a sample's
/// start does not depend on batching.
at::Tensor pgd_linf(const ModelFn& model, const at::Tensor& x, const at::Tensor& y,
                    const PgdOptions& opts, int64_t first_index = 0);

}  // namespace modelgate::attacks
