#include "attacks/attack_result.h"

namespace modelgate::attacks {

AttackResult unattacked_result(const at::Tensor& x, const at::Tensor& y) {
  TORCH_CHECK(x.dim() >= 2 && y.dim() == 1 && x.size(0) == y.size(0),
              "attack: expected N×… inputs and N labels, got inputs ", x.sizes(), " and labels ", y.sizes());
  const int64_t n = x.size(0);
  const auto long_opts = y.options().dtype(at::kLong);
  AttackResult r;
  r.fooled = at::zeros({n}, long_opts.dtype(at::kBool));
  r.first_fooled = at::full({n}, -1, long_opts);
  r.adversarial = x.clone();
  r.adv_pred = at::full({n}, -1, long_opts);
  return r;
}

void record_iterate(AttackResult& r, const at::Tensor& idx, const at::Tensor& adv, const at::Tensor& pred,
                    const at::Tensor& wrong, int64_t eval_index) {
  const auto newly = wrong.logical_and(r.fooled.index_select(0, idx).logical_not());
  const auto pos = newly.nonzero().squeeze(1);
  if (pos.numel() == 0) return;
  const auto gidx = idx.index_select(0, pos);
  r.fooled.index_fill_(0, gidx, true);
  r.first_fooled.index_fill_(0, gidx, eval_index);
  r.adversarial.index_copy_(0, gidx, adv.index_select(0, pos));
  r.adv_pred.index_copy_(0, gidx, pred.index_select(0, pos));
}

void keep_final_iterate(AttackResult& r, const at::Tensor& idx, const at::Tensor& adv, const at::Tensor& pred) {
  const auto still = r.fooled.index_select(0, idx).logical_not().nonzero().squeeze(1);
  if (still.numel() == 0) return;
  const auto gidx = idx.index_select(0, still);
  r.adversarial.index_copy_(0, gidx, adv.index_select(0, still));
  r.adv_pred.index_copy_(0, gidx, pred.index_select(0, still));
}

double zero_gradient_fraction(const at::Tensor& grad) {
  return grad.flatten(1).abs().amax(1).eq(0).to(at::kDouble).mean().item<double>();
}

}  // namespace modelgate::attacks
