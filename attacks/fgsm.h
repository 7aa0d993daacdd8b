#pragma once
#include "attacks/model_fn.h"

namespace modelgate::attacks {

/// FGSM: clamp(x + eps·sign(∇x CE(model(x), y)), 0, 1).
at::Tensor fgsm(const ModelFn& model, const at::Tensor& x, const at::Tensor& y, double eps);

}  // namespace modelgate::attacks
