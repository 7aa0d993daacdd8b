#include "attacks/model_fn.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace modelgate::attacks {

at::Tensor ce_input_gradient(const ModelFn& model, const at::Tensor& x, const at::Tensor& y) {
  // Callers may hold a no-grad guard for plain evaluation; attacks always need the graph.
  torch::autograd::AutoGradMode enable(true);
  auto input = x.detach().requires_grad_(true);
  auto logits = model(input);
  auto loss = at::cross_entropy_loss(logits, y, {}, at::Reduction::Sum);
  return torch::autograd::grad({loss}, {input})[0];
}

}  // namespace modelgate::attacks
