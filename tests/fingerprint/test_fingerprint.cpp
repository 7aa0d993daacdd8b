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
  EXPECT_EQ(fp.tensors.at("fc.weight").sha256, tensor_sha256(net.attr("fc").toObject()->getAttr("weight").toTensor()));
  EXPECT_EQ(fp.root_sha256, root_sha256(fp.digests()));
  // Floating tensors carry a norm and a sketch of sketch_bits bits; norms are exact.
  const at::Tensor w = net.attr("fc").toObject()->getAttr("weight").toTensor();
  EXPECT_NEAR(fp.tensors.at("fc.weight").norm, w.to(at::kDouble).norm().item<double>(), 1e-9);
  EXPECT_EQ(int64_t(fp.tensors.at("fc.weight").sketch.size()) * 4, fp.sketch_bits);
  EXPECT_EQ(fp.tensors.at("fc.weight").shape, (std::vector<int64_t>{10, 128}));
  // conv1 8·1·9+8, block.conv 8·8·9+8, fc 10·128+10; the buffer is not a parameter.
  EXPECT_EQ(fp.parameter_count, 80 + 584 + 1290);
  EXPECT_TRUE(fp.model_sha256.empty());
}

TEST(Compute, LayersAreChannelMeansOfEachSubmoduleOutput) {
  const torch::jit::Module net = make_net(1);
  const ProbeSpec spec = probe_spec();
  const at::Tensor probes = synthetic_probes(spec);
  const Fingerprint fp = compute(net, probes, spec, default_layers(net));
  ASSERT_EQ(fp.layers.size(), 3u);
  EXPECT_EQ(fp.layers[0].name, "conv1");
  EXPECT_EQ(fp.layers[1].name, "block");
  EXPECT_EQ(fp.layers[2].name, "fc");
  EXPECT_EQ(fp.layers[0].shape, (std::vector<int64_t>{64, 8, 8, 8}));
  EXPECT_EQ(fp.layers[2].shape, (std::vector<int64_t>{64, 10}));

  // Per probe and channel: the mean over the spatial dims, taken before the in-place relu_.
  const at::Tensor conv1 = call(torch::jit::Module(net.attr("conv1").toObject()), probes);
  const at::Tensor expected = conv1.mean({2, 3});
  const Matrix& m = fp.layers[0].channel_means;
  ASSERT_EQ(m.rows, 64);
  ASSERT_EQ(m.cols, 8);
  EXPECT_TRUE(at::allclose(at::tensor(m.values).reshape({64, 8}), expected, 1e-6, 1e-6));
  EXPECT_LT(*std::min_element(m.values.begin(), m.values.end()), 0.0f);

  const at::Tensor logits = call(net, probes);
  EXPECT_EQ(fp.output_shape, (std::vector<int64_t>{64, 10}));
  ASSERT_EQ(fp.logits.values.size(), 640u);
  EXPECT_TRUE(at::allclose(at::tensor(fp.logits.values).reshape({64, 10}), logits));
}

TEST(Compute, TapsTheRequestedNestedLayers) {
  const torch::jit::Module net = make_net(1);
  const ProbeSpec spec = probe_spec();
  const at::Tensor probes = synthetic_probes(spec);
  const Fingerprint fp = compute(net, probes, spec, {"block.conv"});
  ASSERT_EQ(fp.layers.size(), 1u);
  EXPECT_EQ(fp.layers[0].name, "block.conv");
  const at::Tensor conv1 = call(torch::jit::Module(net.attr("conv1").toObject()), probes).relu();
  const torch::jit::Module block(net.attr("block").toObject());
  const at::Tensor inner = call(torch::jit::Module(block.attr("conv").toObject()), conv1);
  EXPECT_TRUE(at::allclose(at::tensor(fp.layers[0].channel_means.values).reshape({64, 8}), inner.mean({2, 3}), 1e-6, 1e-6));
}

// A model whose class is whether the mean pixel exceeds ½: uniform probes sit close to its
// boundary, so a small L∞ step crosses it (a random conv net may answer one class everywhere).
torch::jit::Module mean_threshold() {
  torch::jit::Module m("MeanThreshold");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.define(R"JIT(
def forward(self, x):
    s = x.flatten(1).mean(1, keepdim=True) - 0.5
    return torch.cat([s, -s], 1)
)JIT");
  return m;
}

TEST(Compute, BoundaryProbesAreMadeOnceStoredAndReplayed) {
  const torch::jit::Module net = mean_threshold();
  ProbeSpec spec = probe_spec();
  spec.boundary.count = 8;
  spec.boundary.epsilon = 0.2;
  spec.boundary.steps = 10;
  const at::Tensor probes = synthetic_probes(spec);
  const Fingerprint fp = compute(net, probes, spec, {});
  const BoundaryProbes& b = fp.probes.boundary;
  ASSERT_EQ(b.labels.size(), 8u);
  ASSERT_EQ(b.inputs.size(), 8u * 64u);
  EXPECT_EQ(b.sha256, boundary_sha256(b));
  EXPECT_EQ(fp.logits.rows, 72);  // 64 synthetic + 8 boundary rows

  // Labels are the model's clean predictions on the sources; the stored inputs stay in the L∞
  // ball (up to half rounding) and all sit past the boundary (fooled sources come first).
  ASSERT_EQ(b.sources.size(), 8u);
  const at::Tensor sources = probes.index_select(0, at::tensor(b.sources));
  const at::Tensor clean = call(net, sources).argmax(1);
  EXPECT_TRUE(at::equal(at::tensor(b.labels), clean));
  const at::Tensor adv = boundary_tensor(fp.probes);
  EXPECT_LE((adv - sources).abs().max().item<double>(), 0.2 + 1e-3);
  EXPECT_EQ((call(net, adv).argmax(1) != clean).sum().item<int64_t>(), 8);
  // Each stops at its first misclassified iterate: one 0.05 step past ½, not the whole ball.
  EXPECT_LT((call(net, adv).select(1, 0)).abs().max().item<double>(), 0.05 + 1e-3);

  // Replaying the stored spec on the same model gives the same rows, without a new attack.
  const Fingerprint again = compute(net, probes, fp.probes, {});
  EXPECT_EQ(again.probes.boundary.sha256, b.sha256);
  EXPECT_EQ(again.logits.values, fp.logits.values);
  EXPECT_TRUE(same_probes(fp.probes, again.probes));
  ProbeSpec other = fp.probes;
  other.boundary.labels[0] = (other.boundary.labels[0] + 1) % 10;
  other.boundary.sha256 = boundary_sha256(other.boundary);
  EXPECT_FALSE(same_probes(fp.probes, other));
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
  EXPECT_THROW(compute(net, synthetic_probes(probe_spec()), spec, {}), std::invalid_argument);
}

TEST(Compute, DoubleModelGetsDoubleProbes) {
  torch::jit::Module net = make_net(1);
  net.to(at::kDouble);
  const Fingerprint fp = fingerprint_of(net);
  EXPECT_EQ(fp.output_shape, (std::vector<int64_t>{64, 10}));
  EXPECT_EQ(fp.tensors.at("fc.weight").sha256.size(), 64u);
  EXPECT_EQ(fp.tensors.at("fc.weight").dtype, "float64");
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
  EXPECT_EQ(back.logits.values, fp.logits.values);
  EXPECT_EQ(back.layers[1].channel_means.values, fp.layers[1].channel_means.values);
  EXPECT_EQ(back.tensors.at("fc.weight").sketch, fp.tensors.at("fc.weight").sketch);
  EXPECT_EQ(back.probes.seed, fp.probes.seed);

  for (const char* key : {"formatVersion", "modelSha256", "tensors", "rootSha256", "archSha256", "parameterCount",
                          "weightSketch", "probes", "layers", "outputShape", "logits"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["probes"]["inputShape"], nlohmann::json({1, 8, 8}));
  EXPECT_TRUE(j["layers"][0].contains("channelMeans"));
  EXPECT_TRUE(j["probes"].contains("boundary"));
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
  j["layers"][1]["channelMeans"]["cols"] = 7;
  EXPECT_NE(error_of(j).find("'layers[1].channelMeans"), std::string::npos) << error_of(j);

  j = good;
  j["logits"]["float32"] = "not*base64";
  EXPECT_NE(error_of(j).find("'logits.float32'"), std::string::npos) << error_of(j);

  j = good;
  j["probes"]["boundary"]["labels"] = {1};
  EXPECT_NE(error_of(j).find("'probes.boundary.labels'"), std::string::npos) << error_of(j);

  j = good;
  j["probes"]["boundary"]["float16"] = "AAAA";
  EXPECT_NE(error_of(j).find("'probes.boundary.float16'"), std::string::npos) << error_of(j);

  j = good;
  j["formatVersion"] = 1;
  EXPECT_NE(error_of(j).find("'formatVersion'"), std::string::npos) << error_of(j);

  j = good;
  j["archSha256"] = "xyz";
  EXPECT_NE(error_of(j).find("'archSha256'"), std::string::npos) << error_of(j);

  // A manifest edited without its root is caught, not silently compared.
  j = good;
  j["tensors"]["fc.bias"]["sha256"] = sha256_hex("other", 5);
  EXPECT_NE(error_of(j).find("'rootSha256'"), std::string::npos) << error_of(j);

  EXPECT_THROW(from_json(nlohmann::json::array()), std::invalid_argument);
}

TEST(Json, DimensionsMustAgreeWithTheDataPresent) {
  const nlohmann::json good = to_json(fingerprint_of(make_net(1)));
  const int64_t rows = good["logits"]["rows"].get<int64_t>();
  // Probe counts past the limit, or past the rows stored, would make compare regenerate and run
  // that many inputs: 20 million synthetic probes in a small file.
  nlohmann::json j = good;
  j["probes"]["synthetic"] = 20000000;
  EXPECT_NE(error_of(j).find("'probes.synthetic' is 20000000, over the limit of 100000"), std::string::npos) << error_of(j);
  j = good;
  j["probes"]["synthetic"] = j["probes"]["synthetic"].get<int64_t>() + 1;
  EXPECT_NE(error_of(j).find("rows, expected one per probe"), std::string::npos) << error_of(j);
  // 2^32 rows of no columns hold no data.
  j = good;
  j["logits"]["rows"] = int64_t(1) << 32;
  j["logits"]["cols"] = 0;
  j["logits"]["float32"] = "";
  j["outputShape"] = {int64_t(1) << 32, 0};
  EXPECT_NE(error_of(j).find("'logits.cols' is 0 with 4294967296 rows"), std::string::npos) << error_of(j);
  // A product that overflows int64 is refused, not wrapped to a size that matches.
  j = good;
  j["logits"]["rows"] = int64_t(1) << 32;
  j["logits"]["cols"] = int64_t(1) << 32;
  EXPECT_NE(error_of(j).find("'logits.rows × cols' is too large"), std::string::npos) << error_of(j);
  j = good;
  j["probes"]["inputShape"] = {int64_t(1) << 40, int64_t(1) << 40};
  EXPECT_NE(error_of(j).find("'probes.inputShape' is too large"), std::string::npos) << error_of(j);
  j = good;
  j["probes"]["inputShape"] = {3, 4096, 4096};  // 64 probes of 200 MB each
  EXPECT_NE(error_of(j).find("probe tensor of over 4 GiB"), std::string::npos) << error_of(j);
  j = good;
  j["layers"][0]["shape"][0] = rows + 1;
  EXPECT_NE(error_of(j).find("'layers[0].shape' has"), std::string::npos) << error_of(j);
  j = good;
  j["probes"]["synthetic"] = 0;
  j["probes"]["real"] = 0;
  j["probes"]["boundary"]["count"] = 0;
  EXPECT_NE(error_of(j).find("has no probes"), std::string::npos) << error_of(j);
  EXPECT_EQ(error_of(good), "<no error>");
}

TEST(Json, NonFiniteLogitsSurviveTheRoundTrip) {
  Fingerprint fp = fingerprint_of(make_net(1));
  fp.logits.values[0] = std::numeric_limits<float>::quiet_NaN();
  fp.logits.values[1] = std::numeric_limits<float>::infinity();
  const Fingerprint back = from_json(nlohmann::json::parse(to_json(fp).dump()));
  EXPECT_TRUE(std::isnan(back.logits.values[0]));
  EXPECT_EQ(back.logits.values[1], fp.logits.values[1]);
  EXPECT_EQ(back.logits.values[2], fp.logits.values[2]);
}

TEST(Json, Base64RoundTripsAndRejectsGarbage) {
  for (const std::string text : {"", "a", "ab", "abc", "abcd", "hello, world"}) {
    const auto back = base64_decode(base64_encode(text.data(), text.size()));
    EXPECT_EQ(std::string(back.begin(), back.end()), text);
  }
  EXPECT_EQ(base64_encode("hello", 5), "aGVsbG8=");
  EXPECT_THROW(base64_decode("abc"), std::invalid_argument);
  EXPECT_THROW(base64_decode("ab*="), std::invalid_argument);
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
  EXPECT_FALSE(s["probes"]["boundary"].contains("float16"));
}

}  // namespace
}  // namespace modelgate::fingerprint
