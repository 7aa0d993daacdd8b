#include "attacks/apgd.h"

#include "kernels/ops.h"

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cmath>

namespace modelgate::attacks {
namespace {

struct Evaluation {
  at::Tensor logits, loss, grad;  // loss per sample, grad of their sum
};

Evaluation evaluate(const ModelFn& model, const at::Tensor& x, const at::Tensor& y, ApgdLoss loss) {
  torch::autograd::AutoGradMode enable(true);
  auto input = x.detach().requires_grad_(true);
  auto logits = model(input);
  auto per_sample = loss == ApgdLoss::ce ? at::cross_entropy_loss(logits, y, {}, at::Reduction::None)
                                         : dlr_loss(logits, y);
  auto grad = torch::autograd::grad({per_sample.sum()}, {input})[0];
  return {logits.detach(), per_sample.detach(), grad};
}

// Broadcasts a per-sample vector over the trailing dims of x.
at::Tensor per_sample(const at::Tensor& v, const at::Tensor& x) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  return v.view(shape);
}

at::Tensor project(const at::Tensor& v, const at::Tensor& x0, double eps) {
  return at::min(at::max(v, x0 - eps), x0 + eps).clamp_(0.0, 1.0);
}

}  // namespace

std::vector<int64_t> apgd_checkpoints(int64_t steps) {
  const int64_t first = std::max<int64_t>(static_cast<int64_t>(0.22 * steps), 1);
  const int64_t decrease = std::max<int64_t>(static_cast<int64_t>(0.03 * steps), 1);
  const int64_t minimum = std::max<int64_t>(static_cast<int64_t>(0.06 * steps), 1);
  std::vector<int64_t> out;
  for (int64_t at = first, len = first; at <= steps; len = std::max(len - decrease, minimum), at += len)
    out.push_back(at);
  return out;
}

at::Tensor dlr_loss(const at::Tensor& logits, const at::Tensor& y) {
  TORCH_CHECK(logits.dim() == 2 && logits.size(1) >= 3, "the DLR loss needs at least 3 classes, got logits of shape ",
              logits.sizes());
  auto [sorted, order] = logits.sort(1);
  const int64_t k = logits.size(1);
  const auto top_is_label = order.select(1, k - 1).eq(y).to(logits.scalar_type());
  const auto z_y = logits.gather(1, y.unsqueeze(1)).squeeze(1);
  const auto best_other = sorted.select(1, k - 2) * top_is_label + sorted.select(1, k - 1) * (1 - top_is_label);
  return -(z_y - best_other) / (sorted.select(1, k - 1) - sorted.select(1, k - 3) + 1e-12);
}

AttackResult run_apgd(const ModelFn& model, const at::Tensor& x, const at::Tensor& y, const ApgdOptions& opts,
                      int64_t first_index) {
  TORCH_CHECK(x.dim() >= 2 && y.dim() == 1 && x.size(0) == y.size(0), "run_apgd: expected N×… inputs and N labels");
  const int64_t n = x.size(0);
  const double eps = opts.epsilon;
  const auto checkpoints = apgd_checkpoints(opts.steps);
  const auto long_opts = y.options().dtype(at::kLong);
  AttackResult res;
  res.fooled = at::zeros({n}, long_opts.dtype(at::kBool));
  res.first_fooled = at::full({n}, -1, long_opts);
  res.adversarial = x.clone();
  res.adv_pred = at::full({n}, -1, long_opts);
  bool first_gradient = true;

  // Records iterate `eval_index` of the whole batch: newly fooled samples keep it.
  auto record = [&](const at::Tensor& adv, const at::Tensor& pred, int64_t eval_index) {
    const auto newly = pred.ne(y).logical_and(res.fooled.logical_not());
    const auto pos = newly.nonzero().squeeze(1);
    if (pos.numel() == 0) return;
    res.fooled.index_fill_(0, pos, true);
    res.first_fooled.index_fill_(0, pos, eval_index);
    res.adversarial.index_copy_(0, pos, adv.index_select(0, pos));
    res.adv_pred.index_copy_(0, pos, pred.index_select(0, pos));
  };

  const int64_t restarts = std::max<int64_t>(1, opts.restarts);
  at::Tensor adv;
  at::Tensor last_pred;
  for (int64_t r = 0; r < restarts; ++r) {
    const int64_t base = r * (opts.steps + 1);
    adv = x.clone();
    if (opts.random_start)
      adv = (x + kernels::uniform_ball(x, eps, opts.seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(r), first_index))
                .clamp_(0.0, 1.0);
    auto ev = evaluate(model, adv, y, opts.loss);
    if (first_gradient) {
      res.zero_grad_fraction = ev.grad.flatten(1).abs().amax(1).eq(0).to(at::kDouble).mean().item<double>();
      first_gradient = false;
    }
    record(adv, ev.logits.argmax(1), base);
    auto step = at::full({n}, 2.0 * eps, x.options().dtype(at::kFloat));
    auto best = adv.clone(), best_grad = ev.grad.clone(), best_loss = ev.loss.clone();
    auto prev = adv.clone();
    auto grad = ev.grad, loss_prev = ev.loss;
    auto increases = at::zeros({n}, long_opts);
    auto best_loss_at_check = best_loss.clone();
    auto reduced_at_check = at::ones({n}, long_opts.dtype(at::kBool));
    size_t next_check = 0;
    int64_t since_check = 0;
    for (int64_t i = 0; i < opts.steps; ++i) {
      // z: a plain signed step; then momentum between it and the previous move (none at first).
      const double a = i == 0 ? 1.0 : opts.momentum;
      const auto s = per_sample(step, x).to(x.scalar_type());
      const auto z = project(adv + s * grad.sign(), x, eps);
      auto next = project(adv + (z - adv) * a + (adv - prev) * (1 - a), x, eps);
      prev = adv;
      adv = next;
      ev = evaluate(model, adv, y, opts.loss);
      grad = ev.grad;
      last_pred = ev.logits.argmax(1);
      record(adv, last_pred, base + i + 1);
      increases += ev.loss.gt(loss_prev).to(at::kLong);
      loss_prev = ev.loss;
      const auto improved = ev.loss.gt(best_loss);
      best = at::where(per_sample(improved, x), adv, best);
      best_grad = at::where(per_sample(improved, x), grad, best_grad);
      best_loss = at::where(improved, ev.loss, best_loss);
      ++since_check;
      if (next_check < checkpoints.size() && i + 1 == checkpoints[next_check]) {
        // Halve the step where too few steps raised the loss, or where the last checkpoint
        // did not halve it and the best loss has not moved since.
        const auto oscillating = increases.le(static_cast<int64_t>(std::floor(opts.rho * since_check)));
        const auto stalled = reduced_at_check.logical_not().logical_and(best_loss_at_check.ge(best_loss));
        const auto halve = oscillating.logical_or(stalled);
        reduced_at_check = halve;
        best_loss_at_check = best_loss.clone();
        step = at::where(halve, step / 2, step);
        adv = at::where(per_sample(halve, x), best, adv);
        grad = at::where(per_sample(halve, x), best_grad, grad);
        increases.zero_();
        since_check = 0;
        ++next_check;
      }
    }
  }
  // Samples never fooled keep the final iterate of the last restart.
  const auto still = res.fooled.logical_not().nonzero().squeeze(1);
  if (still.numel() > 0) {
    res.adversarial.index_copy_(0, still, adv.index_select(0, still));
    at::Tensor pred = last_pred;
    if (!pred.defined()) {
      at::NoGradGuard no_grad;
      pred = model(adv).argmax(1);
    }
    res.adv_pred.index_copy_(0, still, pred.index_select(0, still));
  }
  return res;
}

}  // namespace modelgate::attacks
