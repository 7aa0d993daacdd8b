#pragma once
#include <ATen/ATen.h>

#include <functional>

namespace modelgate::attacks {

/// A differentiable model: maps an N×C×H×W batch to N×K logits. Attacks see only this,
/// never a file or a config.
using ModelFn = std::function<at::Tensor(const at::Tensor&)>;

/// Gradient with respect to `x` of the cross-entropy of model(x) against `y`, summed over
/// the batch (so each sample's gradient does not depend on the batch size).
at::Tensor ce_input_gradient(const ModelFn& model, const at::Tensor& x, const at::Tensor& y);

}  // namespace modelgate::attacks
