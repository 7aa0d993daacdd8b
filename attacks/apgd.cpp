#include "attacks/apgd.h"

#include "kernels/ops.h"

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cmath>

namespace modelgate::attacks {
namespace {

// Restart r draws from its own stream; restart 0 keeps the plain seed (as in run_pgd).
uint64_t restart_seed(uint64_t seed, int64_t r) { return seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(r); }

constexpr uint64_t kAngleStream = 0x414E474C45000000ULL;  // "ANGLE": Box-Muller's second word

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

at::Tensor l2_norms(const at::Tensor& v) { return per_sample(v.flatten(1).norm(2, 1), v); }

// AutoAttack's normalize(): v/(‖v‖₂ + 1e−12) per sample, so a zero gradient makes no move.
at::Tensor l2_normalised(const at::Tensor& v) { return v / (l2_norms(v) + 1e-12); }

// The projection onto the ε-ball around x0 and then the unit box, which AutoAttack does in that
// order (not the exact projection onto their intersection): the step operators with no step.
// x0 stands in for the gradient, which a zero step never reads past its norm.
at::Tensor project(at::Tensor v, const at::Tensor& x0, double eps, Norm norm) {
  return norm == Norm::linf ? kernels::linf_step_(v, x0, x0, 0.0, eps) : kernels::l2_step_(v, x0, x0, 0.0, eps);
}

// Standard normal values shaped like x, keyed like kernels::uniform_ball (seed, dataset index,
// element): Box-Muller on two Philox words, so the start does not depend on batching.
at::Tensor standard_normal(const at::Tensor& x, uint64_t seed, int64_t first_index) {
  auto unit = [&](uint64_t s) {
    return kernels::philox_bits(x, s, first_index).to(at::kLong).bitwise_and(0xFFFFFFFFLL).to(at::kDouble) /
           4294967296.0;
  };
  const auto u1 = 1.0 - unit(seed);  // (0, 1]: the logarithm stays finite
  const auto u2 = unit(seed ^ kAngleStream);
  return ((-2.0 * u1.log()).sqrt() * (2.0 * M_PI * u2).cos()).to(x.scalar_type());
}

at::Tensor start_point(const at::Tensor& x, const ApgdOptions& o, int64_t r, int64_t first_index) {
  if (!o.random_start) return x.clone();
  const uint64_t seed = restart_seed(o.seed, r);
  if (o.norm == Norm::linf) return (x + kernels::uniform_ball(x, o.epsilon, seed, first_index)).clamp_(0.0, 1.0);
  return (x + o.epsilon * l2_normalised(standard_normal(x, seed, first_index))).clamp_(0.0, 1.0);
}

// Everything APGD keeps per sample, for the samples still attacked: row i is batch position
// idx[i]. The active set drops rows from all of it at once.
struct State {
  at::Tensor idx, x0, y;
  at::Tensor adv, prev, grad, loss_prev;
  at::Tensor step, best, best_grad, best_loss, increases, best_loss_at_check, reduced_at_check;

  void keep(const at::Tensor& rows) {
    for (at::Tensor* t : {&idx, &x0, &y, &adv, &prev, &grad, &loss_prev, &step, &best, &best_grad, &best_loss,
                          &increases, &best_loss_at_check, &reduced_at_check})
      *t = t->index_select(0, rows);
  }
};

}  // namespace

std::string to_string(ApgdLoss l) { return l == ApgdLoss::ce ? "ce" : "dlr"; }

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
  AttackResult res = unattacked_result(x, y);
  const int64_t n = x.size(0);
  const double eps = opts.epsilon;
  const auto checkpoints = apgd_checkpoints(opts.steps);
  const auto long_opts = y.options().dtype(at::kLong);
  bool first_gradient = true;

  const int64_t restarts = std::max<int64_t>(1, opts.restarts);
  for (int64_t r = 0; r < restarts; ++r) {
    const int64_t base = r * (opts.steps + 1);
    State s;
    s.idx = opts.active_set ? res.fooled.logical_not().nonzero().squeeze(1) : at::arange(n, long_opts);
    if (s.idx.numel() == 0) break;
    s.x0 = x.index_select(0, s.idx);
    s.y = y.index_select(0, s.idx);
    s.adv = start_point(x, opts, r, first_index).index_select(0, s.idx);
    auto ev = evaluate(model, s.adv, s.y, opts.loss);
    if (first_gradient) {
      res.zero_grad_fraction = zero_gradient_fraction(ev.grad);
      first_gradient = false;
    }
    at::Tensor pred = ev.logits.argmax(1), wrong = pred.ne(s.y);
    record_iterate(res, s.idx, s.adv, pred, wrong, base);
    const int64_t m = s.idx.numel();
    s.step = at::full({m}, apgd_first_step(eps), x.options().dtype(at::kFloat));
    s.best = s.adv.clone();
    s.best_grad = ev.grad.clone();
    s.best_loss = ev.loss.clone();
    s.prev = s.adv.clone();
    s.grad = ev.grad;
    s.loss_prev = ev.loss;
    s.increases = at::zeros({m}, long_opts);
    s.best_loss_at_check = s.best_loss.clone();
    s.reduced_at_check = at::ones({m}, long_opts.dtype(at::kBool));
    size_t next_check = 0;
    int64_t since_check = 0;
    for (int64_t i = 0; i < opts.steps; ++i) {
      if (opts.active_set) {
        const auto keep = wrong.logical_not().nonzero().squeeze(1);
        if (keep.numel() == 0) break;
        if (keep.numel() < s.idx.numel()) s.keep(keep);
      }
      // z: a plain step (signed for L∞, L2-normalised for L2); then momentum between it and
      // the previous move (none at first).
      const double a = i == 0 ? 1.0 : opts.momentum;
      const auto size = per_sample(s.step, s.adv).to(x.scalar_type());
      const auto direction = opts.norm == Norm::linf ? s.grad.sign() : l2_normalised(s.grad);
      const auto z = project(s.adv + size * direction, s.x0, eps, opts.norm);
      auto next = project(s.adv + (z - s.adv) * a + (s.adv - s.prev) * (1 - a), s.x0, eps, opts.norm);
      s.prev = s.adv;
      s.adv = next;
      ev = evaluate(model, s.adv, s.y, opts.loss);
      s.grad = ev.grad;
      pred = ev.logits.argmax(1);
      wrong = pred.ne(s.y);
      record_iterate(res, s.idx, s.adv, pred, wrong, base + i + 1);
      s.increases += ev.loss.gt(s.loss_prev).to(at::kLong);
      s.loss_prev = ev.loss;
      const auto improved = ev.loss.gt(s.best_loss);
      s.best = at::where(per_sample(improved, s.adv), s.adv, s.best);
      s.best_grad = at::where(per_sample(improved, s.adv), s.grad, s.best_grad);
      s.best_loss = at::where(improved, ev.loss, s.best_loss);
      ++since_check;
      const bool last = i + 1 == opts.steps;
      if (next_check < checkpoints.size() && i + 1 == checkpoints[next_check] && !last) {
        // Halve the step where too few steps raised the loss, or where the last checkpoint
        // did not halve it and the best loss has not moved since. (A checkpoint after the
        // last step could only move the final iterate away from the one evaluated.)
        const auto oscillating = s.increases.le(static_cast<int64_t>(std::floor(opts.rho * since_check)));
        const auto stalled = s.reduced_at_check.logical_not().logical_and(s.best_loss_at_check.ge(s.best_loss));
        const auto halve = oscillating.logical_or(stalled);
        s.reduced_at_check = halve;
        s.best_loss_at_check = s.best_loss.clone();
        s.step = at::where(halve, s.step / 2, s.step);
        s.adv = at::where(per_sample(halve, s.adv), s.best, s.adv);
        s.grad = at::where(per_sample(halve, s.adv), s.best_grad, s.grad);
        s.increases.zero_();
        since_check = 0;
        ++next_check;
      }
    }
    // s.adv and pred are the last evaluated iterate of the rows left: the active set drops
    // rows only before a step, whose evaluation follows.
    keep_final_iterate(res, s.idx, s.adv, pred);
    if (!opts.active_set && r == restarts - 1) {
      res.last_iterate = s.adv;
      res.last_fooled = wrong;
      res.last_pred = pred;
    }
  }
  return res;
}

}  // namespace modelgate::attacks
