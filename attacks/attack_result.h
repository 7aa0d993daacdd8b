#pragma once
// What an iterative attack reports per sample, and the bookkeeping PGD and APGD share to fill
// it: set-up, recording each evaluated iterate of the samples still attacked, and the final
// iterate of those never fooled.
#include <ATen/ATen.h>

#include <cstdint>

namespace modelgate::attacks {

/// Per-sample outcome of an attack on one batch. A sample counts as fooled when any
/// evaluated iterate (the start, each step, the last) is misclassified, as in AutoAttack.
struct AttackResult {
  at::Tensor adversarial;   ///< the first misclassified iterate, or the final one if none was
  at::Tensor fooled;        ///< bool N
  at::Tensor first_fooled;  ///< int64 N: evaluation index of the first misclassified iterate
                            ///< (restart·(steps+1) + step, 0 = the first start), −1 if never
  at::Tensor adv_pred;      ///< int64 N: the prediction on `adversarial`
  at::Tensor targets;       ///< int64 N: the classes aimed at (targeted modes), else undefined
  at::Tensor target_hit;    ///< bool N: some iterate was classified as the target (targeted modes)
  at::Tensor last_iterate;  ///< the final iterate of the last restart (only without active set)
  at::Tensor last_fooled;   ///< bool N: `last_iterate` misclassified (only without active set)
  at::Tensor last_pred;     ///< int64 N: the prediction on `last_iterate` (only without active set)
  double zero_grad_fraction = 0;  ///< share of samples whose first input gradient is all zero
};

/// A result for the batch (x, y) before any iterate: nothing fooled, first_fooled and
/// adv_pred −1, adversarial a copy of x.
AttackResult unattacked_result(const at::Tensor& x, const at::Tensor& y);

/// Records evaluated iterate `eval_index` of the samples at batch positions `idx` (int64, one
/// per row of `adv`): each with `wrong` set that was not fooled before becomes fooled at
/// `eval_index` and keeps its row of `adv` and `pred` as adversarial example and prediction.
void record_iterate(AttackResult& r, const at::Tensor& idx, const at::Tensor& adv, const at::Tensor& pred,
                    const at::Tensor& wrong, int64_t eval_index);

/// The samples at `idx` that were never fooled keep their row of `adv` and `pred` (the final
/// iterate) as adversarial example and prediction.
void keep_final_iterate(AttackResult& r, const at::Tensor& idx, const at::Tensor& adv, const at::Tensor& pred);

/// Share of samples whose input gradient (N×…) is zero everywhere: AutoAttack's sign of
/// gradient masking.
double zero_gradient_fraction(const at::Tensor& grad);

}  // namespace modelgate::attacks
