#include "fingerprint/fingerprint.h"

#include "kernels/ops.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <stdexcept>

namespace modelgate::fingerprint {
namespace {

std::string shape_text(at::IntArrayRef sizes) {
  std::string out = "[";
  for (size_t i = 0; i < sizes.size(); ++i) out += (i ? "," : "") + std::to_string(sizes[i]);
  return out + "]";
}

// "__torch__.torch.nn.modules.conv.___torch_mangle_3.Conv2d" -> "torch.nn.modules.conv.Conv2d".
std::string canonical_type_name(const torch::jit::Module& m) {
  const auto name = m.type()->name();
  if (!name) return "<anonymous>";
  std::string out;
  for (const std::string& atom : name->atoms()) {
    if (atom == "__torch__" || atom.rfind("___torch_mangle_", 0) == 0) continue;
    out += (out.empty() ? "" : ".") + atom;
  }
  return out;
}

// Where the module computes: its first parameter's (else buffer's) device and floating dtype.
at::TensorOptions module_options(const torch::jit::Module& module) {
  for (const auto& p : module.parameters()) return p.options();
  for (const auto& b : module.buffers()) return b.options();
  return at::TensorOptions().dtype(at::kFloat);
}

void check_eval_mode(const torch::jit::Module& module) {
  for (const auto& m : module.named_modules()) {
    // Modules built without a "training" attribute have no train/eval state to be wrong about.
    if (m.value.hasattr("training") && m.value.attr("training").toBool()) {
      throw std::invalid_argument("fingerprint: module '" + (m.name.empty() ? "<root>" : m.name) +
                                  "' is in training mode; call eval() first");
    }
  }
}

void check_probes(const at::Tensor& probes, const ProbeSpec& spec) {
  std::vector<int64_t> expected{spec.synthetic + spec.real};
  expected.insert(expected.end(), spec.input_shape.begin(), spec.input_shape.end());
  if (!probes.defined() || probes.sizes() != at::IntArrayRef(expected)) {
    throw std::invalid_argument(
        "fingerprint: probes have shape " + (probes.defined() ? shape_text(probes.sizes()) : "<undefined>") +
        ", expected " + shape_text(expected) + " (synthetic + real samples × inputShape)");
  }
  if (expected[0] == 0) throw std::invalid_argument("fingerprint: the probe set is empty (synthetic + real = 0)");
}

// Mean over every dimension but 1, through the single-pass statistics operator (CPU and
// CUDA kernels accumulate in double, so summing many activations loses nothing).
std::vector<float> channel_means(const at::Tensor& activation) {
  const at::Tensor mean = std::get<0>(kernels::channel_stats(activation.to(at::kFloat))).cpu().contiguous();
  return {mean.data_ptr<float>(), mean.data_ptr<float>() + mean.numel()};
}

}  // namespace

at::Tensor synthetic_probes(const ProbeSpec& spec) {
  if (spec.synthetic < 0) {
    throw std::invalid_argument("probes: 'synthetic' is " + std::to_string(spec.synthetic) +
                                ", expected a count of 0 or more");
  }
  if (spec.input_shape.empty() ||
      std::any_of(spec.input_shape.begin(), spec.input_shape.end(), [](int64_t d) { return d <= 0; })) {
    throw std::invalid_argument("probes: 'inputShape' is " + shape_text(spec.input_shape) +
                                ", expected one or more positive sizes per sample");
  }
  std::vector<int64_t> shape{spec.synthetic};
  shape.insert(shape.end(), spec.input_shape.begin(), spec.input_shape.end());
  // A private CPU generator: the same numbers on every machine and no global RNG state touched.
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(spec.seed);
  return at::rand(shape, generator, at::TensorOptions().dtype(at::kFloat));
}

std::map<std::string, std::string> tensor_digests(const torch::jit::Module& module) {
  std::map<std::string, std::string> digests;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) digests[p.name] = tensor_sha256(p.value);
  for (const auto& b : module.named_buffers(/*recurse=*/true)) digests[b.name] = tensor_sha256(b.value);
  return digests;
}

std::string arch_description(const torch::jit::Module& module) {
  std::vector<std::string> lines;
  for (const auto& m : module.named_modules()) {
    if (!m.name.empty()) lines.push_back("module " + m.name + " " + canonical_type_name(m.value));
  }
  for (const auto& p : module.named_parameters(/*recurse=*/true)) {
    lines.push_back("parameter " + p.name + " " + dtype_name(p.value.scalar_type()) + shape_text(p.value.sizes()));
  }
  for (const auto& b : module.named_buffers(/*recurse=*/true)) {
    lines.push_back("buffer " + b.name + " " + dtype_name(b.value.scalar_type()) + shape_text(b.value.sizes()));
  }
  // Sorted, so the registration order (which tracing and scripting may not preserve alike)
  // does not matter.
  std::sort(lines.begin(), lines.end());
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

Fingerprint compute(const torch::jit::Module& module, const at::Tensor& probes, const ProbeSpec& spec) {
  check_eval_mode(module);
  check_probes(probes, spec);

  Fingerprint fp;
  fp.format_version = kFormatVersion;
  fp.tensors = tensor_digests(module);
  fp.root_sha256 = root_sha256(fp.tensors);
  const std::string arch = arch_description(module);
  fp.arch_sha256 = sha256_hex(arch.data(), arch.size());
  for (const auto& p : module.parameters()) fp.parameter_count += p.numel();
  fp.probes = spec;

  const at::TensorOptions options = module_options(module);
  at::Tensor input = probes.to(options.device());
  // A double or half model gets probes in its own precision; integer weights say nothing about
  // the input type, so then the probes stay as they are.
  if (at::isFloatingType(options.dtype().toScalarType())) input = input.to(options.dtype());

  at::NoGradGuard no_grad;
  const Capture cap = capture(module, input, capturable_layers(module));
  for (const auto& [name, activation] : cap.layers) {
    // Rank 0/1 outputs have no channel axis to summarise.
    if (activation.dim() < 2) continue;
    fp.layers.push_back({name, activation.sizes().vec(), channel_means(activation)});
  }
  const at::Tensor logits = cap.output.to(at::kFloat).cpu().contiguous();
  fp.output_shape = logits.sizes().vec();
  fp.logits.assign(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
  return fp;
}

}  // namespace modelgate::fingerprint
