#include "fingerprint/fingerprint.h"

#include "attacks/pgd.h"
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
  if (spec.total() == 0) throw std::invalid_argument("fingerprint: the probe set is empty (synthetic + real + boundary = 0)");
}

// Each probe's mean over the trailing dims of an N×C×… activation: N×C, float32, on the CPU.
Matrix channel_means(const at::Tensor& activation) {
  at::Tensor a = activation.to(at::kFloat);
  if (a.dim() > 2) a = a.flatten(2).mean(2);
  a = a.cpu().contiguous();
  return {a.size(0), a.size(1), {a.data_ptr<float>(), a.data_ptr<float>() + a.numel()}};
}

// Packs a 0/1 byte per bit into bytes (bit b → byte b/8, bit b%8) and writes them as hex.
std::string packed_hex(const at::Tensor& bits) {
  const at::Tensor b = bits.cpu().contiguous();
  const uint8_t* p = b.data_ptr<uint8_t>();
  std::vector<uint8_t> bytes(size_t((b.numel() + 7) / 8), 0);
  for (int64_t i = 0; i < b.numel(); ++i) bytes[size_t(i / 8)] |= uint8_t((p[i] & 1) << (i % 8));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t byte : bytes) out += {kHex[byte >> 4], kHex[byte & 15]};
  return out;
}

TensorRecord tensor_record(const at::Tensor& value, int64_t bits, uint64_t seed) {
  TensorRecord r;
  r.sha256 = tensor_sha256(value);
  r.dtype = dtype_name(value.scalar_type());
  r.shape = value.sizes().vec();
  if (at::isFloatingType(value.scalar_type()) && value.numel() > 0) {
    const at::Tensor flat = value.detach().reshape({1, -1}).to(at::kFloat);
    r.norm = flat.to(at::kDouble).norm().item<double>();
    r.sketch = packed_hex(kernels::sign_sketch(flat, bits, seed));
  }
  return r;
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

std::map<std::string, TensorRecord> weight_records(const torch::jit::Module& module, int64_t bits, uint64_t seed) {
  std::map<std::string, TensorRecord> records;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) records[p.name] = tensor_record(p.value, bits, seed);
  for (const auto& b : module.named_buffers(/*recurse=*/true)) records[b.name] = tensor_record(b.value, bits, seed);
  return records;
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

BoundaryProbes make_boundary_probes(const torch::jit::Module& module, const at::Tensor& candidates,
                                    const std::vector<int64_t>& rows, const BoundaryProbes& spec) {
  TORCH_INTERNAL_ASSERT(int64_t(rows.size()) == candidates.size(0), "one probe row per candidate");
  if (candidates.size(0) < spec.count) {
    throw std::invalid_argument("fingerprint: " + std::to_string(spec.count) + " boundary probes need as many source probes; there are " +
                                std::to_string(candidates.size(0)));
  }
  BoundaryProbes out = spec;
  out.inputs.clear();
  out.labels.clear();
  out.sources.clear();
  if (spec.count == 0) {
    out.sha256 = boundary_sha256(out);
    return out;
  }
  torch::jit::Module m = module;  // a handle: the same object
  const attacks::ModelFn model = [&m](const at::Tensor& x) { return m.forward({x}).toTensor(); };
  const at::Tensor x = candidates.to(at::kFloat);
  at::Tensor labels;
  {
    at::NoGradGuard no_grad;
    labels = model(x).argmax(1);
  }
  attacks::PgdOptions o;
  o.norm = attacks::Norm::linf;
  o.epsilon = spec.epsilon;
  o.steps = spec.steps;
  o.random_start = false;
  o.active_set = true;
  at::Tensor adversarial;
  {
    // The attack needs input gradients whatever mode the caller runs in.
    at::AutoGradMode grad(true);
    adversarial = attacks::run_pgd(model, x, labels, o).adversarial.detach();
  }
  // Fooled after the rounding that storage applies, so a replay sees what was judged here.
  const at::Tensor half = adversarial.to(at::kHalf);
  at::Tensor fooled;
  {
    at::NoGradGuard no_grad;
    fooled = (model(half.to(at::kFloat)).argmax(1) != labels).cpu();
  }
  const auto is_fooled = fooled.accessor<bool, 1>();
  std::vector<int64_t> order;
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t i = 0; i < x.size(0) && int64_t(order.size()) < spec.count; ++i) {
      if (is_fooled[i] == (pass == 0)) order.push_back(i);
    }
  }
  const at::Tensor pick = at::tensor(order, at::TensorOptions().dtype(at::kLong));
  const at::Tensor kept = half.cpu().index_select(0, pick).contiguous();
  const auto* bits = reinterpret_cast<const uint16_t*>(kept.data_ptr<at::Half>());
  out.inputs.assign(bits, bits + kept.numel());
  const at::Tensor l = labels.to(at::kLong).cpu().index_select(0, pick).contiguous();
  out.labels.assign(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
  for (int64_t i : order) out.sources.push_back(rows[size_t(i)]);
  out.sha256 = boundary_sha256(out);
  return out;
}

at::Tensor boundary_tensor(const ProbeSpec& spec) {
  std::vector<int64_t> shape{spec.boundary.count};
  shape.insert(shape.end(), spec.input_shape.begin(), spec.input_shape.end());
  if (int64_t(spec.boundary.inputs.size()) != spec.boundary.count * c10::multiply_integers(spec.input_shape)) {
    throw std::invalid_argument("fingerprint: the spec holds " + std::to_string(spec.boundary.inputs.size()) +
                                " boundary values, expected count × inputShape");
  }
  auto* data = const_cast<uint16_t*>(spec.boundary.inputs.data());
  return at::from_blob(data, shape, at::TensorOptions().dtype(at::kHalf)).to(at::kFloat);
}

Fingerprint compute(const torch::jit::Module& module, const at::Tensor& probes, const ProbeSpec& spec,
                    const std::vector<std::string>& layers, int64_t sketch_bits, uint64_t sketch_seed) {
  check_eval_mode(module);
  check_probes(probes, spec);

  Fingerprint fp;
  fp.format_version = kFormatVersion;
  fp.sketch_bits = sketch_bits;
  fp.sketch_seed = sketch_seed;
  fp.tensors = weight_records(module, sketch_bits, sketch_seed);
  fp.root_sha256 = root_sha256(fp.digests());
  const std::string arch = arch_description(module);
  fp.arch_sha256 = sha256_hex(arch.data(), arch.size());
  for (const auto& p : module.parameters()) fp.parameter_count += p.numel();
  fp.probes = spec;

  const at::TensorOptions options = module_options(module);
  at::Tensor input = probes.to(options.device());
  if (spec.boundary.count > 0 && spec.boundary.inputs.empty()) {
    // Real samples make the better sources: they lie where the model was trained.
    const at::Tensor sources = at::cat({input.narrow(0, spec.synthetic, spec.real), input.narrow(0, 0, spec.synthetic)});
    std::vector<int64_t> rows;
    for (int64_t r = 0; r < spec.real; ++r) rows.push_back(spec.synthetic + r);
    for (int64_t r = 0; r < spec.synthetic; ++r) rows.push_back(r);
    fp.probes.boundary = make_boundary_probes(module, sources, rows, spec.boundary);
  }
  if (spec.boundary.count > 0) {
    input = at::cat({input.to(at::kFloat), boundary_tensor(fp.probes).to(options.device())});
  }
  // A double or half model gets probes in its own precision; integer weights say nothing about
  // the input type, so then the probes stay as they are.
  if (at::isFloatingType(options.dtype().toScalarType())) input = input.to(options.dtype());

  at::NoGradGuard no_grad;
  const Capture cap = capture(module, input, layers);
  for (const auto& [name, activation] : cap.layers) {
    // Rank 0/1 outputs have no channel axis to summarise.
    if (activation.dim() < 2) continue;
    fp.layers.push_back({name, activation.sizes().vec(), channel_means(activation)});
  }
  const at::Tensor logits = cap.output.to(at::kFloat).cpu().contiguous();
  fp.output_shape = logits.sizes().vec();
  const int64_t rows = logits.dim() > 0 ? logits.size(0) : 1;
  fp.logits = {rows, rows > 0 ? logits.numel() / rows : 0,
               {logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel()}};
  return fp;
}

}  // namespace modelgate::fingerprint
