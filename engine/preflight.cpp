#include "engine/preflight.h"

#include "engine/errors.h"

#include <fmt/format.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <chrono>
#include <limits>

namespace modelgate::engine {
namespace {

// Softmax outputs (rows of non-negative values summing to 1) instead of logits: cross-entropy
// on probabilities has vanishing gradients, so attacks look weaker than they are.
bool looks_like_probabilities(const at::Tensor& logits) {
  if (logits.size(1) < 2) return false;
  const auto v = logits.to(at::kDouble);
  return v.min().item<double>() >= 0 && (v.sum(1) - 1).abs().max().item<double>() < 1e-4;
}

// Seconds of one forward and backward (the gradient an attack step takes) per sample: the faster
// of two runs on up to 16 samples, so that the first call's warm-up is not counted.
double time_gradient_pass(LoadedModel& model, const Dataset& data, const JobConfig& job, const c10::Device& device) {
  const int64_t n = std::min<int64_t>({data.size(), job.batch_size, 16});
  const auto x = data.inputs.narrow(0, 0, n).to(device).detach().requires_grad_(true);
  double best = std::numeric_limits<double>::infinity();
  // A model without a gradient to its input fails in its attacks, where the report says so;
  // its pace is then unknown (0) and nothing is estimated for it.
  if (!forward_logits(model.module, x, model.path.string()).requires_grad()) return 0;
  // TorchScript's executor profiles and optimises on its first runs: one untimed pass, then the
  // fastest of three (the least disturbed by other work on the machine).
  for (int i = 0; i < 4; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const auto loss = forward_logits(model.module, x, model.path.string()).sum();
    const auto grad = torch::autograd::grad({loss}, {x}, {}, false, false, true)[0];
    if (grad.defined()) grad.sum().item<double>();  // waits for the device
    if (i > 0) best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best / static_cast<double>(n);
}

}  // namespace

ModelChecks check_model_against_data(LoadedModel& model, const Dataset& data, const JobConfig& job,
                                     const c10::Device& device) {
  const auto probe = data.inputs.narrow(0, 0, std::min<int64_t>(2, data.size())).to(device);
  at::Tensor logits;
  {
    at::NoGradGuard no_grad;
    logits = forward_logits(model.module, probe, model.path.string());
  }
  // With InferenceMonitoring, non-finite outputs are what its error rate measures, not a failure.
  if (!job.inference && !at::isfinite(logits).all().item<bool>())
    throw RunError(fmt::format("{}: produced NaN or infinite logits on the first samples of {}", model.path.string(),
                               data.path.string()));
  check_labels(data, logits.size(1), model.path.string());
  for (const auto& a : job.attacks)
    if (a.target == attacks::Target::label && a.target_label >= logits.size(1))
      throw InputError(fmt::format("{}: attack target class {} is outside the {} classes of {}", job.file.string(),
                                   a.target_label, logits.size(1), model.path.string()));
  return {logits.size(1), looks_like_probabilities(logits), time_gradient_pass(model, data, job, device)};
}

}  // namespace modelgate::engine
