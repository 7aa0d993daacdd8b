#include "attacks/fgsm.h"

#include "kernels/ops.h"

namespace modelgate::attacks {

at::Tensor fgsm(const ModelFn& model, const at::Tensor& x, const at::Tensor& y, double eps) {
  // One L∞ step of size eps from x stays inside the eps-ball, so the projection is a no-op
  // and FGSM is exactly one fused step.
  auto adv = x.clone();
  kernels::linf_step_(adv, ce_input_gradient(model, x, y), x, eps, eps);
  return adv;
}

}  // namespace modelgate::attacks
