#pragma once
// Small TorchScript modules built in C++ for the fingerprint tests. Their code calls children
// as `self.child.forward(x)`: modules made in C++ have no Python-side `__call__`, and the graph
// gets the same prim::CallMethod[name="forward"] that scripting or tracing gives.
#include "fingerprint/fingerprint.h"

#include <torch/script.h>

namespace modelgate::fingerprint::testing {

/// A "Conv" module: 3×3 conv2d with padding 1, weights from `gen`, in eval mode.
torch::jit::Module make_conv(int64_t in, int64_t out, at::Generator& gen);

/// "Net": conv1 -> relu_ (in place on conv1's output) -> block -> add_(1) (in place on block's
/// output) -> avg_pool2d(2) -> flatten -> fc (10 classes). block is nested: a "Block" with its
/// own child conv and a buffer "scale". Input N×1×8×8. Weights are drawn from `seed`; `head` is
/// forward's return expression, so a test can change the code but not the weights.
torch::jit::Module make_net(uint64_t seed, int64_t channels = 8, const std::string& head = "self.fc.forward(x)");

/// The probe spec the tests use: 64 synthetic samples of 1×8×8.
ProbeSpec probe_spec(uint64_t seed = 7);

/// Fingerprint of `module` on probe_spec(seed)'s synthetic probes.
Fingerprint fingerprint_of(const torch::jit::Module& module, uint64_t seed = 7);

/// Multiplies every parameter of `module` in place by `factor`.
void scale_parameters(torch::jit::Module& module, double factor);

/// Path of a file in tests/fingerprint/fixtures.
std::string fixture(const std::string& name);

}  // namespace modelgate::fingerprint::testing
