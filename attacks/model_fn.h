#pragma once
#include <ATen/ATen.h>

#include <functional>

namespace modelgate::attacks {

/// A differentiable model: maps an N×C×H×W batch to N×K logits. Attacks see only this,
/// never a file or a config.
using ModelFn = std::function<at::Tensor(const at::Tensor&)>;

/// The logits of a batch and the gradient of a summed cross-entropy with respect to it.
struct LossGradient {
  at::Tensor logits;  ///< model(x), detached
  at::Tensor grad;    ///< ∇x Σ_i CE(model(x)_i, labels_i)
};

/// Logits and the input gradient of the cross-entropy against `labels`, summed over the
/// batch (so each sample's gradient does not depend on the batch size).
LossGradient ce_loss_gradient(const ModelFn& model, const at::Tensor& x, const at::Tensor& labels);

/// Gradient with respect to `x` of the summed cross-entropy of model(x) against `y`.
at::Tensor ce_input_gradient(const ModelFn& model, const at::Tensor& x, const at::Tensor& y);

}  // namespace modelgate::attacks
