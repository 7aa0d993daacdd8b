#pragma once
// Activation capture without touching the model: forward's graph is copied and inlined, the
// copy gets a clone of each tapped module's output and returns them, and only the copy runs.
// Layers are named by module path ("layer1.0.conv1"), read from the call stack that inlining
// records on every node, so nested submodules, traced models and graphs that were frozen or
// inlined in this process are all tapped the same way.
#include <torch/script.h>

#include <string>
#include <utility>
#include <vector>

namespace modelgate::fingerprint {

/// Every module path whose output can be tapped, in the order forward() first produces it:
/// each submodule at any depth ("layer1", "layer1.0", "layer1.0.conv1") that forward() calls
/// in its top-level block (not inside if/loop bodies) and that returns a tensor used after the
/// call. A module called several times is tapped at its first call. A model frozen and saved to
/// disk records no module paths, so it has none.
std::vector<std::string> capturable_layers(const torch::jit::Module& module);

/// The default taps: the capturable top-level stages (paths without a dot), in call order.
/// The logits are always captured as Capture::output.
std::vector<std::string> default_layers(const torch::jit::Module& module);

/// The top-level stages among capturable_layers()'s names, for callers that already have them.
std::vector<std::string> top_level_layers(const std::vector<std::string>& capturable);

/// The output of one forward pass and the outputs of the requested layers, in request order.
struct Capture {
  at::Tensor output;
  std::vector<std::pair<std::string, at::Tensor>> layers;
};

/// Runs forward on `input` through a rewritten, inlined copy of the graph, returning the output
/// and the named layers' outputs; the module is not modified. Each layer's output is cloned
/// right after the node that produces it, so in-place ops later in forward() cannot change what
/// was captured. Follows the caller's grad mode. Throws std::invalid_argument for an unknown
/// layer name (listing the capturable ones), a forward() that does not take exactly one input,
/// or one that does not return a tensor.
Capture capture(const torch::jit::Module& module, const at::Tensor& input,
                const std::vector<std::string>& layers);

}  // namespace modelgate::fingerprint
