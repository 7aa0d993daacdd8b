#include "attacks/model_fn.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace modelgate::attacks {

LossGradient ce_loss_gradient(const ModelFn& model, const at::Tensor& x, const at::Tensor& labels) {
  // Callers may hold a no-grad guard for plain evaluation; attacks always need the graph.
  torch::autograd::AutoGradMode enable(true);
  auto input = x.detach().requires_grad_(true);
  auto logits = model(input);
  auto loss = at::cross_entropy_loss(logits, labels, {}, at::Reduction::Sum);
  auto grad = torch::autograd::grad({loss}, {input})[0];
  return {logits.detach(), grad};
}

at::Tensor ce_input_gradient(const ModelFn& model, const at::Tensor& x, const at::Tensor& y) {
  return ce_loss_gradient(model, x, y).grad;
}

}  // namespace modelgate::attacks
