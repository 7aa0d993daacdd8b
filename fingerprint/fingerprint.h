#pragma once
// Model fingerprints: weight digests, an architecture digest and behaviour on seeded probes;
// compare() turns two of them into a verdict.
#include "fingerprint/capture.h"
#include "fingerprint/compare.h"
#include "fingerprint/hashing.h"
#include "fingerprint/record.h"

#include <torch/script.h>

namespace modelgate::fingerprint {

/// Deterministic synthetic probes: `synthetic` × input_shape, uniform [0,1], from a CPU generator
/// seeded with spec.seed (same on every machine; equals torch.rand((synthetic, *input_shape),
/// generator=torch.Generator().manual_seed(seed)) in Python). Throws std::invalid_argument for a
/// negative count or an empty/non-positive input_shape.
at::Tensor synthetic_probes(const ProbeSpec& spec);

/// Digest of every parameter and buffer (recursive, qualified names) by tensor_sha256.
std::map<std::string, std::string> tensor_digests(const torch::jit::Module& module);

/// The canonical text arch_sha256 hashes: sorted lines "module <name> <type>",
/// "parameter <name> <dtype>[shape]" and "buffer <name> <dtype>[shape]" for every submodule
/// (recursive), parameter and buffer. Type names lose the "__torch__." prefix and TorchScript's
/// "___torch_mangle_N" parts, so re-scripting or tracing the same classes gives the same text.
/// The root module's own class name is left out: renaming the wrapper changes no computation.
std::string arch_description(const torch::jit::Module& module);

/// Fingerprint of an eval-mode module over `probes` (on the module's device); model_sha256 is
/// left for the caller. Throws std::invalid_argument when a submodule is in training mode
/// (dropout and batch-norm updates would make it non-deterministic and change the model), when
/// `probes` does not have spec.synthetic + spec.real rows of spec.input_shape, or when forward()
/// does not map one tensor to one tensor.
Fingerprint compute(const torch::jit::Module& module, const at::Tensor& probes, const ProbeSpec& spec);

}  // namespace modelgate::fingerprint
