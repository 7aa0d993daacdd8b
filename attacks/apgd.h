#pragma once
// APGD (Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of
// diverse parameter-free attacks", ICML 2020) in L∞ and L2, following AutoAttack's published
// schedule, with an active set like PGD's.
#include "attacks/attack_result.h"
#include "attacks/model_fn.h"
#include "attacks/pgd.h"

#include <cstdint>
#include <vector>

namespace modelgate::attacks {

/// Options of an APGD attack.
struct ApgdOptions {
  Norm norm = Norm::linf;    ///< L∞: signed steps; L2: L2-normalised steps and L2 projection
  double epsilon = 8.0 / 255.0;
  int64_t steps = 100;
  ApgdLoss loss = ApgdLoss::ce;
  int64_t restarts = 1;
  bool random_start = true;  ///< AutoAttack starts at a seeded point: uniform in the L∞ cube,
                             ///< or on the L2 sphere along a Gaussian direction
  uint64_t seed = 0;
  double momentum = 0.75;    ///< weight of the new step against the previous move
  double rho = 0.75;         ///< a step is kept while at least rho of the steps since the
                             ///< last checkpoint raised the loss
  /// Fooled samples leave the batch, and the others' state (step sizes, previous points, best
  /// points and losses, counters) is compacted with them; results equal attacking every
  /// sample. Off, every sample runs every step and the last iterate is kept.
  bool active_set = true;
};

/// The iterations after which APGD checks for stagnation: the first after 0.22·N, then
/// intervals shrinking by 0.03·N down to 0.06·N (each at least 1), up to N.
std::vector<int64_t> apgd_checkpoints(int64_t steps);

/// AutoAttack's difference-of-logits-ratio loss, per sample:
/// −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 1e−12). Needs at least 3 classes.
at::Tensor dlr_loss(const at::Tensor& logits, const at::Tensor& y);

/// Runs APGD on the batch. The step starts at 2ε per sample, moves with momentum, and is
/// halved (restarting from the sample's best point) when the loss stagnates at a checkpoint.
/// Scored like run_pgd: a sample is fooled if any evaluated iterate misclassifies it.
/// `first_index` is the dataset index of x[0]; it keys the random starts.
AttackResult run_apgd(const ModelFn& model, const at::Tensor& x, const at::Tensor& y, const ApgdOptions& opts,
                      int64_t first_index = 0);

}  // namespace modelgate::attacks
