#include "attacks/fgsm.h"

#include "attacks/pgd.h"

namespace modelgate::attacks {

at::Tensor fgsm(const ModelFn& model, const at::Tensor& x, const at::Tensor& y, double eps) {
  // One L∞ step of size eps from x stays inside the eps-ball: FGSM is PGD's one-step case.
  return pgd_linf(model, x, y, fgsm_options(Norm::linf, eps));
}

}  // namespace modelgate::attacks
