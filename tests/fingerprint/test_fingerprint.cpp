#include "fingerprint/fingerprint.h"

#include "tests/fingerprint/test_models.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace modelgate::fingerprint {
namespace {

using testing::fingerprint_of;
using testing::make_net;
using testing::probe_spec;

at::Tensor call(torch::jit::Module m, const at::Tensor& x) { return m.forward({x}).toTensor(); }

std::string error_of(const nlohmann::json& j) {
  try {
    from_json(j);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(SyntheticProbes, SeededUniformAndShaped) {
  const ProbeSpec spec = probe_spec(11);
  const at::Tensor a = synthetic_probes(spec);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{64, 1, 8, 8}));
  EXPECT_EQ(a.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(a, synthetic_probes(spec)));
  EXPECT_GE(a.min().item<float>(), 0.0f);
  EXPECT_LE(a.max().item<float>(), 1.0f);
  EXPECT_FALSE(at::equal(a, synthetic_probes(probe_spec(12))));
  // Seeding must not depend on, or disturb, the global generator.
  at::manual_seed(1);
  const at::Tensor after_global = synthetic_probes(spec);
  EXPECT_TRUE(at::equal(a, after_global));
}

TEST(SyntheticProbes, RejectsBadSpecs) {
  ProbeSpec spec = probe_spec();
  spec.input_shape = {};
  EXPECT_THROW(synthetic_probes(spec), std::invalid_argument);
  spec.input_shape = {1, 0, 8};
  EXPECT_THROW(synthetic_probes(spec), std::invalid_argument);
  spec = probe_spec();
  spec.synthetic = -1;
  EXPECT_THROW(synthetic_probes(spec), std::invalid_argument);
}

TEST(Compute, DigestsEveryParameterAndBuffer) {
  const torch::jit::Module net = make_net(1);
  const Fingerprint fp = fingerprint_of(net);
  std::vector<std::string> names;
  for (const auto& [name, digest] : fp.tensors) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"block.conv.bias", "block.conv.weight", "block.scale",
                                              "conv1.bias", "conv1.weight", "fc.bias", "fc.weight"}));
  EXPECT_EQ(fp.tensors.at("fc.weight"), tensor_sha256(net.attr("fc").toObject()->getAttr("weight").toTensor()));
  EXPECT_EQ(fp.root_sha256, root_sha256(fp.tensors));
  // conv1 8·1·9+8, block.conv 8·8·9+8, fc 10·128+10; the buffer is not a parameter.
  EXPECT_EQ(fp.parameter_count, 80 + 584 + 1290);
  EXPECT_TRUE(fp.model_sha256.empty());
}

TEST(Compute, LayersAreChannelMeansOfEachSubmoduleOutput) {
  const torch::jit::Module net = make_net(1);
  const ProbeSpec spec = probe_spec();
  const at::Tensor probes = synthetic_probes(spec);
  const Fingerprint fp = compute(net, probes, spec);
  ASSERT_EQ(fp.layers.size(), 3u);
  EXPECT_EQ(fp.layers[0].name, "conv1");
  EXPECT_EQ(fp.layers[1].name, "block");
  EXPECT_EQ(fp.layers[2].name, "fc");
  EXPECT_EQ(fp.layers[0].shape, (std::vector<int64_t>{64, 8, 8, 8}));
  EXPECT_EQ(fp.layers[2].shape, (std::vector<int64_t>{64, 10}));

  const at::Tensor conv1 = call(torch::jit::Module(net.attr("conv1").toObject()), probes);
  const at::Tensor expected = conv1.to(at::kDouble).mean({0, 2, 3}).to(at::kFloat);
  ASSERT_EQ(fp.layers[0].channel_mean.size(), 8u);
  for (int64_t c = 0; c < 8; ++c) {
    EXPECT_FLOAT_EQ(fp.layers[0].channel_mean[c], expected[c].item<float>()) << "channel " << c;
  }
  // Channel means of conv1 before the in-place relu_ include negative channels' pull.
  EXPECT_LT(*std::min_element(fp.layers[0].channel_mean.begin(), fp.layers[0].channel_mean.end()),
            conv1.relu().to(at::kDouble).mean({0, 2, 3}).min().item<double>());

  const at::Tensor logits = call(net, probes);
  EXPECT_EQ(fp.output_shape, (std::vector<int64_t>{64, 10}));
  ASSERT_EQ(fp.logits.size(), 640u);
  EXPECT_TRUE(at::allclose(at::tensor(fp.logits).reshape({64, 10}), logits));
}

TEST(Compute, SkipsLayersWithoutAChannelAxis) {
  torch::jit::Module total("Total");
  total.define(R"JIT(
def forward(self, x):
    return x.sum(1)
)JIT");
  torch::jit::Module net("SumNet");
  net.register_module("total", total);
  net.define(R"JIT(
def forward(self, x):
    return self.total.forward(x.flatten(1)).unsqueeze(1)
)JIT");
  const Fingerprint fp = fingerprint_of(net);
  EXPECT_TRUE(fp.layers.empty());
  EXPECT_EQ(fp.output_shape, (std::vector<int64_t>{64, 1}));
}

TEST(Compute, LeavesTheModuleUnchanged) {
  const torch::jit::Module net = make_net(1);
  const at::Tensor probes = synthetic_probes(probe_spec());
  const std::string graph_before = net.get_method("forward").graph()->toString();
  const at::Tensor before = call(net, probes);
  fingerprint_of(net);
  EXPECT_EQ(net.get_method("forward").graph()->toString(), graph_before);
  EXPECT_TRUE(at::equal(call(net, probes), before));
}

TEST(Compute, RejectsTrainingModeAndMismatchedProbes) {
  torch::jit::Module net = make_net(1);
  net.train();
  try {
    fingerprint_of(net);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("training"), std::string::npos) << e.what();
  }
  net.eval();
  ProbeSpec spec = probe_spec();
  spec.real = 3;  // the spec now promises 67 rows
  EXPECT_THROW(compute(net, synthetic_probes(probe_spec()), spec), std::invalid_argument);
}

TEST(Compute, DoubleModelGetsDoubleProbes) {
  torch::jit::Module net = make_net(1);
  net.to(at::kDouble);
  const Fingerprint fp = fingerprint_of(net);
  EXPECT_EQ(fp.output_shape, (std::vector<int64_t>{64, 10}));
  EXPECT_EQ(fp.tensors.at("fc.weight").size(), 64u);
}

TEST(Architecture, SameForOtherWeightsDifferentForOtherShapes) {
  const torch::jit::Module a = make_net(1), b = make_net(2), narrow = make_net(1, 6);
  EXPECT_EQ(arch_description(a), arch_description(b));
  const Fingerprint fa = fingerprint_of(a), fb = fingerprint_of(b), fn = fingerprint_of(narrow);
  EXPECT_EQ(fa.arch_sha256, fb.arch_sha256);
  EXPECT_NE(fa.root_sha256, fb.root_sha256);
  EXPECT_NE(fa.arch_sha256, fn.arch_sha256);

  const std::string text = arch_description(a);
  EXPECT_NE(text.find("module block.conv Conv\n"), std::string::npos) << text;
  EXPECT_NE(text.find("parameter fc.weight float32[10,128]\n"), std::string::npos) << text;
  EXPECT_NE(text.find("buffer block.scale float32[8,1,1]\n"), std::string::npos) << text;

  torch::jit::Module as_double = make_net(1);
  as_double.to(at::kDouble);
  EXPECT_NE(arch_description(as_double), text);
}

TEST(Architecture, IgnoresTorchScriptManglingAndRegistrationOrder) {
  // A clone gets a fresh, mangled class type for the same class.
  const torch::jit::Module net = make_net(1);
  const torch::jit::Module copy = net.clone();
  EXPECT_EQ(arch_description(copy), arch_description(net));

  torch::jit::Module ab("Pair"), ba("Pair");
  ab.register_parameter("a", at::ones({2}), false);
  ab.register_parameter("b", at::zeros({3}), false);
  ba.register_parameter("b", at::zeros({3}), false);
  ba.register_parameter("a", at::ones({2}), false);
  EXPECT_EQ(arch_description(ab), arch_description(ba));
  EXPECT_EQ(root_sha256(tensor_digests(ab)), root_sha256(tensor_digests(ba)));
}

TEST(Json, RoundTripsExactly) {
  Fingerprint fp = fingerprint_of(make_net(1));
  fp.model_sha256 = sha256_hex("model", 5);
  fp.probes.data_path = "data/digits.npz";
  fp.probes.data_sha256 = sha256_hex("data", 4);
  fp.probes.seed = 18446744073709551615ull;  // largest uint64 must survive
  const nlohmann::json j = to_json(fp);
  const Fingerprint back = from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(to_json(back), j);
  EXPECT_EQ(back.logits, fp.logits);
  EXPECT_EQ(back.layers[1].channel_mean, fp.layers[1].channel_mean);
  EXPECT_EQ(back.probes.seed, fp.probes.seed);

  for (const char* key : {"formatVersion", "modelSha256", "tensors", "rootSha256", "archSha256", "parameterCount",
                          "probes", "layers", "outputShape", "logits"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["probes"]["inputShape"], nlohmann::json({1, 8, 8}));
  EXPECT_TRUE(j["layers"][0].contains("channelMean"));
}

TEST(Json, ErrorsNameTheField) {
  const nlohmann::json good = to_json(fingerprint_of(make_net(1)));
  auto without = [&](const std::string& key) {
    nlohmann::json j = good;
    j.erase(key);
    return error_of(j);
  };
  EXPECT_NE(without("rootSha256").find("'rootSha256' is missing"), std::string::npos) << without("rootSha256");
  EXPECT_NE(without("layers").find("'layers'"), std::string::npos);

  nlohmann::json j = good;
  j["probes"]["seed"] = "seven";
  EXPECT_NE(error_of(j).find("'probes.seed'"), std::string::npos) << error_of(j);

  j = good;
  j["probes"].erase("inputShape");
  EXPECT_NE(error_of(j).find("'probes.inputShape' is missing"), std::string::npos) << error_of(j);

  j = good;
  j["layers"][1]["channelMean"].erase(0);
  EXPECT_NE(error_of(j).find("'layers[1].channelMean'"), std::string::npos) << error_of(j);

  j = good;
  j["logits"].erase(0);
  EXPECT_NE(error_of(j).find("'logits'"), std::string::npos) << error_of(j);

  j = good;
  j["formatVersion"] = 2;
  EXPECT_NE(error_of(j).find("'formatVersion'"), std::string::npos) << error_of(j);

  j = good;
  j["archSha256"] = "xyz";
  EXPECT_NE(error_of(j).find("'archSha256'"), std::string::npos) << error_of(j);

  // A manifest edited without its root is caught, not silently compared.
  j = good;
  j["tensors"]["fc.bias"] = sha256_hex("other", 5);
  EXPECT_NE(error_of(j).find("'rootSha256'"), std::string::npos) << error_of(j);

  EXPECT_THROW(from_json(nlohmann::json::array()), std::invalid_argument);
}

TEST(Json, NonFiniteLogitsReadBackAsNaN) {
  Fingerprint fp = fingerprint_of(make_net(1));
  fp.logits[0] = std::numeric_limits<float>::quiet_NaN();
  const Fingerprint back = from_json(nlohmann::json::parse(to_json(fp).dump()));
  EXPECT_TRUE(std::isnan(back.logits[0]));
  EXPECT_EQ(back.logits[1], fp.logits[1]);
}

TEST(Json, SummaryHasTheShortForm) {
  const Fingerprint fp = fingerprint_of(make_net(1));
  const nlohmann::json s = summary_json(fp);
  EXPECT_EQ(s["rootSha256"], fp.root_sha256);
  EXPECT_EQ(s["archSha256"], fp.arch_sha256);
  EXPECT_EQ(s["parameterCount"], fp.parameter_count);
  EXPECT_EQ(s["layers"], nlohmann::json({"conv1", "block", "fc"}));
  EXPECT_EQ(s["probes"]["seed"], 7);
  EXPECT_FALSE(s.contains("logits"));
}

}  // namespace
}  // namespace modelgate::fingerprint
