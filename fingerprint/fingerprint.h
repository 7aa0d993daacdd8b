#pragma once
// Model fingerprints: weight digests, an architecture digest and behaviour on seeded probes;
// compare() turns two of them into a verdict.
#include "fingerprint/capture.h"
#include "fingerprint/compare.h"
#include "fingerprint/hashing.h"
#include "fingerprint/record.h"

#include <torch/script.h>

#include <string>
#include <vector>

namespace modelgate::fingerprint {

/// Deterministic synthetic probes: `synthetic` × input_shape, uniform [0,1], from a CPU generator
/// seeded with spec.seed (same on every machine; equals torch.rand((synthetic, *input_shape),
/// generator=torch.Generator().manual_seed(seed)) in Python). Throws std::invalid_argument for a
/// negative count or an empty/non-positive input_shape.
at::Tensor synthetic_probes(const ProbeSpec& spec);

/// Digest of every parameter and buffer (recursive, qualified names) by tensor_sha256.
std::map<std::string, std::string> tensor_digests(const torch::jit::Module& module);

/// Every parameter and buffer (recursive, qualified names) as a TensorRecord: its digest, and
/// for floating tensors the L2 norm and a `bits`-bit sign sketch seeded with `seed`.
std::map<std::string, TensorRecord> weight_records(const torch::jit::Module& module, int64_t bits, uint64_t seed);

/// The canonical text arch_sha256 hashes: sorted lines "module <name> <type>",
/// "parameter <name> <dtype>[shape]" and "buffer <name> <dtype>[shape]" for every submodule
/// (recursive), parameter and buffer. Type names lose the "__torch__." prefix and TorchScript's
/// "___torch_mangle_N" parts, so re-scripting or tracing the same classes gives the same text.
/// The root module's own class name is left out: renaming the wrapper changes no computation.
std::string arch_description(const torch::jit::Module& module);

/// Boundary probes for `module` (the DeepJudge / IPGuard approach). Every row of `candidates`
/// (candidates[i] being probe row rows[i], in order of preference) is labelled with the
/// module's own prediction and attacked with L∞ PGD (spec.epsilon, spec.steps, step
/// 2.5·epsilon/steps, no random start, active set), so each stops at its first misclassified
/// iterate, just past the decision boundary. The results are rounded to half precision, the form
/// stored in the fingerprint; the first spec.count that the module still misclassifies after
/// rounding are kept, topped up in order with the rest when too few were fooled. Returns them
/// with their labels, source rows and digest. Throws std::invalid_argument when there are fewer
/// candidates than spec.count.
BoundaryProbes make_boundary_probes(const torch::jit::Module& module, const at::Tensor& candidates,
                                    const std::vector<int64_t>& rows, const BoundaryProbes& spec);

/// The stored boundary probes as a float tensor of count × input_shape.
at::Tensor boundary_tensor(const ProbeSpec& spec);

/// Fingerprint of an eval-mode module; model_sha256 is left for the caller. `probes` holds the
/// spec.synthetic + spec.real rows (synthetic first). When spec.boundary.count > 0 and the spec
/// carries no boundary inputs yet, they are made on this module (from the real rows first, then
/// the synthetic ones); otherwise the stored ones are replayed. Every probe row then passes
/// through one captured forward, tapping `layers` (see capture()); each layer is summarised as
/// per-probe channel means. Weights get a digest, an L2 norm and a sign sketch (sketch_bits,
/// sketch_seed). Throws std::invalid_argument when a submodule is in training mode (dropout
/// and batch-norm updates would make it non-deterministic and change the model), when `probes`
/// does not have synthetic + real rows of input_shape, or when forward() does not map one
/// tensor to one tensor.
Fingerprint compute(const torch::jit::Module& module, const at::Tensor& probes, const ProbeSpec& spec,
                    const std::vector<std::string>& layers, int64_t sketch_bits = 256, uint64_t sketch_seed = 0);

}  // namespace modelgate::fingerprint
