#include "engine/preflight.h"

#include "engine/errors.h"

#include <fmt/format.h>

namespace modelgate::engine {
namespace {

// Softmax outputs (rows of non-negative values summing to 1) instead of logits: cross-entropy
// on probabilities has vanishing gradients, so attacks look weaker than they are.
bool looks_like_probabilities(const at::Tensor& logits) {
  if (logits.size(1) < 2) return false;
  const auto v = logits.to(at::kDouble);
  return v.min().item<double>() >= 0 && (v.sum(1) - 1).abs().max().item<double>() < 1e-4;
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
  return {logits.size(1), looks_like_probabilities(logits)};
}

}  // namespace modelgate::engine
