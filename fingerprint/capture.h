#pragma once
// Activation capture without touching the model: forward's graph is copied, the copy gets a
// clone of each tapped submodule output and returns them, and only the copy is run.
#include <torch/script.h>

#include <string>
#include <utility>
#include <vector>

namespace modelgate::fingerprint {

/// Names of the top-level submodules that forward() calls, in call order (capturable layers).
/// Only calls in forward's own top-level block count (not inside if/loop bodies), the first call
/// stands for a submodule called several times, and submodules returning a non-tensor are left out.
std::vector<std::string> capturable_layers(const torch::jit::Module& module);

/// The output of one forward pass and the outputs of the requested layers, in request order.
struct Capture {
  at::Tensor output;
  std::vector<std::pair<std::string, at::Tensor>> layers;
};

/// Runs forward on `input` through a rewritten copy of the graph, returning the output and the
/// named layers' outputs; the module is not modified. Each layer's output is cloned right after
/// its call, so in-place ops later in forward() cannot change what was captured. Follows the
/// caller's grad mode. Throws std::invalid_argument for an unknown layer name, a forward() that
/// does not take exactly one input, or one that does not return a tensor.
Capture capture(const torch::jit::Module& module, const at::Tensor& input,
                const std::vector<std::string>& layers);

}  // namespace modelgate::fingerprint
