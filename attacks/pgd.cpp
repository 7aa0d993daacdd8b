#include "attacks/pgd.h"

#include "kernels/ops.h"

namespace modelgate::attacks {

double pgd_step_size(const PgdOptions& opts) {
  return opts.step_size > 0 ? opts.step_size : 2.5 * opts.epsilon / static_cast<double>(opts.steps);
}

at::Tensor pgd_linf(const ModelFn& model, const at::Tensor& x, const at::Tensor& y,
                    const PgdOptions& opts, int64_t first_index) {
  const double alpha = pgd_step_size(opts);
  auto adv = x.clone();
  if (opts.random_start)
    adv.add_(kernels::uniform_ball(x, opts.epsilon, opts.seed, first_index)).clamp_(0.0, 1.0);
  for (int64_t i = 0; i < opts.steps; ++i)
    kernels::linf_step_(adv, ce_input_gradient(model, adv, y), x, alpha, opts.epsilon);
  return adv;
}

}  // namespace modelgate::attacks
