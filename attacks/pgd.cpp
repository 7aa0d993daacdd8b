#include "attacks/pgd.h"

#include "kernels/ops.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>

namespace modelgate::attacks {
namespace {

// Restart r draws from its own stream; restart 0 keeps the plain seed.
uint64_t restart_seed(uint64_t seed, int64_t r) { return seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(r); }

constexpr uint64_t kRadiusStream = 0x5241444955530000ULL;  // "RADIUS": L2 start radii
constexpr uint64_t kTargetStream = 0x5441524745540000ULL;  // "TARGET": random targets

// The start of restart r for the whole batch. Every draw is keyed by the sample's dataset
// index, so compacting the batch (active set) cannot change a sample's start.
at::Tensor start_point(const at::Tensor& x, const PgdOptions& o, int64_t r, int64_t first_index) {
  if (!o.random_start) return x.clone();
  const uint64_t seed = restart_seed(o.seed, r);
  if (o.norm == Norm::linf) return (x + kernels::uniform_ball(x, o.epsilon, seed, first_index)).clamp_(0.0, 1.0);
  // L2: a direction from the cube's uniform draw and a radius fraction from a second stream.
  const auto dir = kernels::uniform_ball(x, 1.0, seed, first_index);
  const auto norms = dir.flatten(1).norm(2, 1).clamp_min(1e-12);
  const auto frac = kernels::uniform_ball(at::zeros({x.size(0), 1}, x.options()), 1.0, seed ^ kRadiusStream, first_index)
                        .abs()
                        .squeeze(1);
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  const auto scale = (frac * o.epsilon / norms).view(shape);
  return (x + dir * scale).clamp_(0.0, 1.0);
}

at::Tensor choose_targets(const ModelFn& model, const at::Tensor& x, const at::Tensor& y, const PgdOptions& o,
                          int64_t first_index) {
  if (o.target == Target::label) return at::full_like(y, o.target_label);
  at::Tensor logits;
  {
    at::NoGradGuard no_grad;
    logits = model(x);
  }
  if (o.target == Target::least_likely) return logits.argmin(1);
  const int64_t classes = logits.size(1);
  TORCH_CHECK(classes >= 2, "random targets need at least 2 classes, the model has ", classes);
  // A uniform class among the K−1 that are not the label: draw v in [0, K−1), skip y.
  const auto bits = kernels::philox_bits(at::zeros({x.size(0), 1}, x.options()), o.seed ^ kTargetStream, first_index)
                        .to(at::kLong)
                        .bitwise_and(0xFFFFFFFFLL)
                        .squeeze(1);
  const auto v = bits.remainder(classes - 1);
  return v + v.ge(y).to(at::kLong);
}

void step(at::Tensor& adv, const at::Tensor& grad, const at::Tensor& x0, const PgdOptions& o, double alpha) {
  if (o.norm == Norm::linf)
    kernels::linf_step_(adv, grad, x0, alpha, o.epsilon);
  else
    kernels::l2_step_(adv, grad, x0, alpha, o.epsilon);
}

}  // namespace

std::string to_string(Norm n) { return n == Norm::linf ? "linf" : "l2"; }

std::string to_string(Target t) {
  switch (t) {
    case Target::none: return "none";
    case Target::label: return "label";
    case Target::least_likely: return "leastLikely";
    case Target::random: return "random";
  }
  return "?";
}

PgdOptions fgsm_options(Norm norm, double epsilon) {
  PgdOptions o;
  o.norm = norm;
  o.epsilon = epsilon;
  o.steps = 1;
  o.step_size = epsilon;
  o.random_start = false;
  o.restarts = 1;
  return o;
}

double pgd_step_size(const PgdOptions& opts) {
  return opts.step_size > 0 ? opts.step_size : 2.5 * opts.epsilon / static_cast<double>(opts.steps);
}

AttackResult run_pgd(const ModelFn& model, const at::Tensor& x, const at::Tensor& y, const PgdOptions& opts,
                     int64_t first_index) {
  AttackResult res = unattacked_result(x, y);
  const int64_t n = x.size(0);
  const double alpha = pgd_step_size(opts);
  const bool targeted = opts.target != Target::none;
  if (targeted) {
    res.targets = choose_targets(model, x, y, opts, first_index);
    res.target_hit = at::zeros({n}, y.options().dtype(at::kBool));
  }
  bool first_gradient = true;
  const int64_t restarts = std::max<int64_t>(1, opts.restarts);
  for (int64_t r = 0; r < restarts; ++r) {
    at::Tensor idx = opts.active_set ? res.fooled.logical_not().nonzero().squeeze(1)
                                     : at::arange(n, y.options().dtype(at::kLong));
    if (idx.numel() == 0) break;
    at::Tensor adv = start_point(x, opts, r, first_index).index_select(0, idx);
    at::Tensor x0 = x.index_select(0, idx), ya = y.index_select(0, idx);
    at::Tensor ta = targeted ? res.targets.index_select(0, idx) : at::Tensor();
    for (int64_t t = 0; t <= opts.steps; ++t) {
      at::Tensor logits, grad;
      if (t < opts.steps) {
        auto lg = ce_loss_gradient(model, adv, targeted ? ta : ya);
        logits = lg.logits;
        // Targeted attacks descend the target's loss; the step ops always ascend.
        grad = targeted ? lg.grad.neg() : lg.grad;
        if (first_gradient) {
          res.zero_grad_fraction = zero_gradient_fraction(grad);
          first_gradient = false;
        }
      } else {
        at::NoGradGuard no_grad;
        logits = model(adv);
      }
      const auto pred = logits.argmax(1);
      const auto wrong = pred.ne(ya);
      record_iterate(res, idx, adv, pred, wrong, r * (opts.steps + 1) + t);
      if (targeted) res.target_hit.index_fill_(0, idx.masked_select(pred.eq(ta)), true);
      if (t == opts.steps) {
        keep_final_iterate(res, idx, adv, pred);
        if (!opts.active_set && r == restarts - 1) {
          res.last_iterate = adv;
          res.last_fooled = wrong;
          res.last_pred = pred;
        }
        break;
      }
      if (opts.active_set) {
        const auto keep = wrong.logical_not().nonzero().squeeze(1);
        if (keep.numel() == 0) break;
        if (keep.numel() < idx.numel()) {
          idx = idx.index_select(0, keep);
          adv = adv.index_select(0, keep);
          x0 = x0.index_select(0, keep);
          ya = ya.index_select(0, keep);
          grad = grad.index_select(0, keep);
          if (targeted) ta = ta.index_select(0, keep);
        }
      }
      step(adv, grad, x0, opts, alpha);
    }
  }
  return res;
}

at::Tensor pgd_linf(const ModelFn& model, const at::Tensor& x, const at::Tensor& y, const PgdOptions& opts,
                    int64_t first_index) {
  PgdOptions o = opts;
  o.norm = Norm::linf;
  o.active_set = false;
  return run_pgd(model, x, y, o, first_index).last_iterate;
}

}  // namespace modelgate::attacks
