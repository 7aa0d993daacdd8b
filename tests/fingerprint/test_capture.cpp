#include "fingerprint/capture.h"

#include "tests/fingerprint/test_models.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/script.h>

#include <algorithm>

namespace modelgate::fingerprint {
namespace {

using testing::make_conv;
using testing::make_net;

at::Tensor input_batch() { return at::rand({5, 1, 8, 8}, at::make_generator<at::CPUGeneratorImpl>(3)); }

// Module is a handle: the copy runs the same object's forward.
at::Tensor call(torch::jit::Module m, const at::Tensor& x) { return m.forward({x}).toTensor(); }

torch::jit::Module child(const torch::jit::Module& m, const std::string& name) {
  return torch::jit::Module(m.attr(name).toObject());
}

TEST(Capture, LayersInCallOrderNestedOnesIncluded) {
  const torch::jit::Module net = make_net(1);
  EXPECT_EQ(capturable_layers(net), (std::vector<std::string>{"conv1", "block.conv", "block", "fc"}));
  EXPECT_EQ(default_layers(net), (std::vector<std::string>{"conv1", "block", "fc"}));
}

TEST(Capture, NestedLayerIsWhatTheSubmoduleReturns) {
  const torch::jit::Module net = make_net(1);
  const at::Tensor x = input_batch();
  const Capture cap = capture(net, x, {"block.conv", "block"});
  const at::Tensor conv1 = call(child(net, "conv1"), x).relu();
  const at::Tensor inner = call(child(child(net, "block"), "conv"), conv1);
  EXPECT_TRUE(at::equal(cap.layers[0].second, inner));
  EXPECT_TRUE(at::equal(cap.layers[1].second, call(child(net, "block"), conv1)));
}

// Frozen in this process: forward() is one inlined graph with constants for weights; the module
// path each node came from is all that names a layer.
TEST(Capture, FrozenModelKeepsItsLayerNames) {
  torch::jit::Module net = make_net(1);
  net.eval();
  const torch::jit::Module frozen = torch::jit::freeze(net);
  EXPECT_TRUE(frozen.named_children().size() == 0 || frozen.parameters().size() == 0);
  const auto layers = capturable_layers(frozen);
  for (const char* name : {"conv1", "block.conv", "block", "fc"}) {
    EXPECT_NE(std::find(layers.begin(), layers.end(), name), layers.end()) << name;
  }
  const at::Tensor x = input_batch();
  const Capture want = capture(net, x, {"conv1", "block.conv", "block", "fc"});
  const Capture got = capture(frozen, x, {"conv1", "block.conv", "block", "fc"});
  for (size_t i = 0; i < want.layers.size(); ++i) {
    EXPECT_TRUE(at::allclose(got.layers[i].second, want.layers[i].second, 1e-5, 1e-6)) << want.layers[i].first;
  }
  // conv1's tap predates the in-place relu_ in the frozen graph too.
  EXPECT_LT(got.layers[0].second.min().item<float>(), 0.0f);
  EXPECT_TRUE(at::allclose(got.output, call(net, x), 1e-5, 1e-6));
}

// Inlined by hand (what torch.jit.freeze or a graph pass leaves): forward has no submodule
// calls left, yet every layer is still found by the path recorded on its nodes.
TEST(Capture, InlinedGraphKeepsItsLayerNames) {
  torch::jit::Module net = make_net(1);
  torch::jit::Module inlined = net.clone();
  torch::jit::Inline(*inlined.get_method("forward").graph());
  for (const torch::jit::Node* node : inlined.get_method("forward").graph()->nodes()) {
    ASSERT_NE(node->kind(), c10::prim::CallMethod);
  }
  EXPECT_EQ(capturable_layers(inlined), capturable_layers(net));
  const at::Tensor x = input_batch();
  EXPECT_TRUE(at::equal(capture(inlined, x, {"block.conv"}).layers[0].second,
                        capture(net, x, {"block.conv"}).layers[0].second));
}

TEST(Capture, TapsEqualWhatEachSubmoduleReturns) {
  const torch::jit::Module net = make_net(1);
  const at::Tensor x = input_batch();
  const Capture cap = capture(net, x, {"conv1", "block", "fc"});
  ASSERT_EQ(cap.layers.size(), 3u);

  // Replays forward() by hand, calling each child's own forward directly.
  const at::Tensor conv1 = call(child(net, "conv1"), x);
  const at::Tensor block = call(child(net, "block"), conv1.relu());
  const at::Tensor fc = call(child(net, "fc"), at::avg_pool2d(block + 1, {2, 2}).flatten(1));

  EXPECT_EQ(cap.layers[0].first, "conv1");
  EXPECT_TRUE(at::equal(cap.layers[0].second, conv1));
  EXPECT_TRUE(at::equal(cap.layers[1].second, block));
  EXPECT_TRUE(at::equal(cap.layers[2].second, fc));
  EXPECT_TRUE(at::allclose(cap.output, call(net, x)));
}

TEST(Capture, InPlaceOpsAfterTheCallDoNotReachTheTap) {
  const torch::jit::Module net = make_net(1);
  const Capture cap = capture(net, input_batch(), {"conv1", "block"});
  // forward() runs relu_ on conv1's output and add_(1) on block's: the taps must predate both.
  EXPECT_LT(cap.layers[0].second.min().item<float>(), 0.0f);
  EXPECT_LT(cap.layers[1].second.min().item<float>(), 1.0f);
}

TEST(Capture, LeavesTheModuleUnchanged) {
  const torch::jit::Module net = make_net(1);
  const at::Tensor x = input_batch();
  const std::string graph_before = net.get_method("forward").graph()->toString();
  const std::string block_before = child(net, "block").get_method("forward").graph()->toString();
  const size_t methods_before = net.get_methods().size();
  const at::Tensor out_before = call(net, x);

  capture(net, x, {"conv1", "block", "fc"});

  EXPECT_EQ(net.get_method("forward").graph()->toString(), graph_before);
  EXPECT_EQ(child(net, "block").get_method("forward").graph()->toString(), block_before);
  EXPECT_EQ(net.get_methods().size(), methods_before);
  EXPECT_TRUE(at::equal(call(net, x), out_before));
}

TEST(Capture, OutputWithoutLayersEqualsForward) {
  const torch::jit::Module net = make_net(2);
  const at::Tensor x = input_batch();
  const Capture cap = capture(net, x, {});
  EXPECT_TRUE(cap.layers.empty());
  EXPECT_TRUE(at::allclose(cap.output, call(net, x)));
}

TEST(Capture, UnknownLayerIsNamed) {
  const torch::jit::Module net = make_net(1);
  try {
    capture(net, input_batch(), {"conv9"});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'conv9'"), std::string::npos) << message;
    EXPECT_NE(message.find("conv1, block.conv, block, fc"), std::string::npos) << message;
  }
  EXPECT_THROW(capture(net, input_batch(), {"block.conv9"}), std::invalid_argument);
  EXPECT_THROW(capture(net, input_batch(), {"block."}), std::invalid_argument);
}

TEST(Capture, RepeatedCallTapsTheFirst) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(4);
  torch::jit::Module m("Twice");
  m.register_module("conv", make_conv(1, 1, gen));
  m.define(R"JIT(
def forward(self, x):
    y = self.conv.forward(x)
    return self.conv.forward(y)
)JIT");
  const at::Tensor x = input_batch();
  EXPECT_EQ(capturable_layers(m), std::vector<std::string>{"conv"});
  const Capture cap = capture(m, x, {"conv"});
  const at::Tensor once = call(child(m, "conv"), x);
  EXPECT_TRUE(at::equal(cap.layers[0].second, once));
  EXPECT_FALSE(at::equal(cap.output, once));
}

TEST(Capture, SkipsCallsInsideControlFlowAndNonTensorResults) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
  torch::jit::Module pair("Pair");
  pair.define(R"JIT(
def forward(self, x):
    return x, x + 1
)JIT");
  torch::jit::Module m("Branchy");
  m.register_module("first", make_conv(1, 1, gen));
  m.register_module("maybe", make_conv(1, 1, gen));
  m.register_module("pair", pair);
  m.define(R"JIT(
def forward(self, x):
    x = self.first.forward(x)
    if bool(x.sum() > 0):
        x = self.maybe.forward(x)
    a, b = self.pair.forward(x)
    return a + b
)JIT");
  EXPECT_EQ(capturable_layers(m), std::vector<std::string>{"first"});
  EXPECT_THROW(capture(m, input_batch(), {"maybe"}), std::invalid_argument);
}

TEST(Capture, RejectsForwardWithTwoInputsOrNonTensorOutput) {
  torch::jit::Module two("Two");
  two.define(R"JIT(
def forward(self, x, y):
    return x + y
)JIT");
  EXPECT_THROW(capture(two, input_batch(), {}), std::invalid_argument);

  torch::jit::Module tuple_out("TupleOut");
  tuple_out.define(R"JIT(
def forward(self, x):
    return x, x
)JIT");
  EXPECT_THROW(capture(tuple_out, input_batch(), {}), std::invalid_argument);
}

TEST(Capture, FollowsCallerGradMode) {
  torch::jit::Module net = make_net(1);
  for (at::Tensor p : net.parameters()) p.set_requires_grad(true);
  const at::Tensor x = input_batch();
  EXPECT_TRUE(capture(net, x, {"conv1"}).output.requires_grad());
  at::NoGradGuard no_grad;
  const Capture cap = capture(net, x, {"conv1"});
  EXPECT_FALSE(cap.output.requires_grad());
  EXPECT_FALSE(cap.layers[0].second.requires_grad());
}

}  // namespace
}  // namespace modelgate::fingerprint
