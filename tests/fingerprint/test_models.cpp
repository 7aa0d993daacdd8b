#include "tests/fingerprint/test_models.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace modelgate::fingerprint::testing {
namespace {

at::Tensor init(at::IntArrayRef shape, int64_t fan_in, at::Generator& gen) {
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)) / std::sqrt(double(fan_in));
}

void set_eval(torch::jit::Module& m) { m.register_attribute("training", c10::BoolType::get(), false); }

}  // namespace

torch::jit::Module make_conv(int64_t in, int64_t out, at::Generator& gen) {
  torch::jit::Module conv("Conv");
  set_eval(conv);
  conv.register_parameter("weight", init({out, in, 3, 3}, in * 9, gen), false);
  conv.register_parameter("bias", init({out}, in * 9, gen), false);
  conv.define(R"JIT(
def forward(self, x):
    return torch.conv2d(x, self.weight, self.bias, [1, 1], [1, 1])
)JIT");
  return conv;
}

torch::jit::Module make_net(uint64_t seed, int64_t channels, const std::string& head) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);

  torch::jit::Module block("Block");
  set_eval(block);
  block.register_module("conv", make_conv(channels, channels, gen));
  block.register_buffer("scale", at::full({channels, 1, 1}, 0.5));
  block.define(R"JIT(
def forward(self, x):
    return torch.relu(self.conv.forward(x)) * self.scale
)JIT");

  torch::jit::Module fc("Linear");
  set_eval(fc);
  const int64_t features = channels * 4 * 4;
  fc.register_parameter("weight", init({10, features}, features, gen), false);
  fc.register_parameter("bias", init({10}, features, gen), false);
  fc.define(R"JIT(
def forward(self, x):
    return torch.linear(x, self.weight, self.bias)
)JIT");

  torch::jit::Module net("Net");
  set_eval(net);
  net.register_module("conv1", make_conv(1, channels, gen));
  net.register_module("block", block);
  net.register_module("fc", fc);
  net.define(R"JIT(
def forward(self, x):
    x = self.conv1.forward(x)
    x = x.relu_()
    x = self.block.forward(x)
    x = x.add_(1)
    x = torch.avg_pool2d(x, [2, 2])
    x = x.flatten(1)
    return )JIT" + head + "\n");
  return net;
}

ProbeSpec probe_spec(uint64_t seed) {
  ProbeSpec spec;
  spec.seed = seed;
  spec.synthetic = 64;
  spec.input_shape = {1, 8, 8};
  return spec;
}

Fingerprint fingerprint_of(const torch::jit::Module& module, uint64_t seed) {
  const ProbeSpec spec = probe_spec(seed);
  return compute(module, synthetic_probes(spec), spec, default_layers(module));
}

void scale_parameters(torch::jit::Module& module, double factor) {
  at::NoGradGuard no_grad;
  for (at::Tensor p : module.parameters()) p.mul_(factor);
}

std::string fixture(const std::string& name) {
  return std::string(MODELGATE_SOURCE_DIR) + "/tests/fingerprint/fixtures/" + name;
}

}  // namespace modelgate::fingerprint::testing
