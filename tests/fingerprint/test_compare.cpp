#include "fingerprint/fingerprint.h"

#include "tests/fingerprint/test_models.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <stdexcept>

namespace modelgate::fingerprint {
namespace {

using testing::fingerprint_of;
using testing::make_net;
using testing::scale_parameters;

// Adds noise of `relative` × the weight's standard deviation to fc.weight, seeded.
void perturb_last_layer(torch::jit::Module& net, double relative, uint64_t seed) {
  at::NoGradGuard no_grad;
  at::Tensor w = net.attr("fc").toObject()->getAttr("weight").toTensor();
  const at::Tensor noise = at::randn(w.sizes(), at::make_generator<at::CPUGeneratorImpl>(seed), w.options());
  w.add_(noise * (relative * w.std().item<double>()));
}

std::string describe(const Comparison& c) { return c.to_json().dump(); }

// Rules of the shape calibration writes, fixed here so these tests do not move with the zoo.
Thresholds rules() {
  Thresholds t;
  t.derived = {{"weightCosine", ">=", 0.5}, {"logitCorrelation", ">=", 0.9}};
  t.source = "test";
  return t;
}

// Permutes conv1's output channels and block.conv's matching input channels: the function is
// unchanged, the weights and conv1's channel order are not.
torch::jit::Module permuted(uint64_t seed) {
  torch::jit::Module net = make_net(seed);
  at::NoGradGuard no_grad;
  const at::Tensor perm = at::randperm(8, at::make_generator<at::CPUGeneratorImpl>(11), at::TensorOptions().dtype(at::kLong));
  torch::jit::Module conv1(net.attr("conv1").toObject());
  torch::jit::Module conv(torch::jit::Module(net.attr("block").toObject()).attr("conv").toObject());
  conv1.attr("weight").toTensor().copy_(conv1.attr("weight").toTensor().index_select(0, perm));
  conv1.attr("bias").toTensor().copy_(conv1.attr("bias").toTensor().index_select(0, perm));
  conv.attr("weight").toTensor().copy_(conv.attr("weight").toTensor().index_select(1, perm));
  return net;
}

TEST(Compare, CopyIsIdentical) {
  const torch::jit::Module net = make_net(1);
  const Fingerprint ref = fingerprint_of(net);
  const Comparison rebuilt = compare(ref, fingerprint_of(make_net(1)), rules());
  EXPECT_EQ(rebuilt.verdict, Verdict::identical) << describe(rebuilt);
  EXPECT_TRUE(rebuilt.weights_identical);
  EXPECT_EQ(rebuilt.tensors_matching, 7);
  EXPECT_EQ(rebuilt.metrics.output_agreement, 1.0);
  EXPECT_EQ(rebuilt.metrics.weight_cosine, 1.0);
  EXPECT_EQ(rebuilt.metrics.weight_rel_l2, 0.0);
  EXPECT_NEAR(*rebuilt.metrics.js_distance, 0.0, 1e-9);
  EXPECT_NEAR(*rebuilt.metrics.cka, 1.0, 1e-9);
  EXPECT_EQ(rebuilt.metrics.lod, 0.0);
  EXPECT_EQ(rebuilt.metrics.lad, 0.0);

  const Comparison cloned = compare(ref, fingerprint_of(net.clone()), rules());
  EXPECT_EQ(cloned.verdict, Verdict::identical) << describe(cloned);
}

TEST(Compare, TinyRescaleIsEquivalent) {
  torch::jit::Module net = make_net(1);
  scale_parameters(net, 1 + 1e-7);
  const Comparison c = compare(fingerprint_of(make_net(1)), fingerprint_of(net), rules());
  EXPECT_FALSE(c.weights_identical);
  EXPECT_TRUE(c.arch_identical);
  EXPECT_LT(c.tensors_matching, 7);
  EXPECT_TRUE(c.logits_allclose);
  EXPECT_TRUE(c.layers_allclose);
  EXPECT_EQ(c.verdict, Verdict::equivalent) << describe(c);
}

TEST(Compare, PerturbedLastLayerIsDerived) {
  torch::jit::Module net = make_net(1);
  perturb_last_layer(net, 0.1, 99);
  const Comparison c = compare(fingerprint_of(make_net(1)), fingerprint_of(net), rules());
  EXPECT_FALSE(c.logits_allclose);
  EXPECT_EQ(c.tensors_matching, 6);
  ASSERT_EQ(c.layers.size(), 3u);
  EXPECT_TRUE(c.layers[0].allclose);
  EXPECT_FALSE(c.layers[2].allclose);
  // Six tensors are equal, fc.weight moved by 10 % of its spread: cosine ≈ 0.995 for it.
  EXPECT_GT(*c.metrics.weight_cosine, 0.95);
  EXPECT_LT(*c.metrics.weight_rel_l2, 0.1);
  EXPECT_GT(*c.metrics.weight_rel_l2, 0.0);
  EXPECT_EQ(c.rules_met.size(), 2u) << describe(c);
  EXPECT_EQ(c.verdict, Verdict::derived) << describe(c);
}

TEST(Compare, PermutedNeuronsAreDerivedNotEquivalent) {
  const Comparison c = compare(fingerprint_of(make_net(1)), fingerprint_of(permuted(1)), rules());
  EXPECT_FALSE(c.weights_identical);
  EXPECT_TRUE(c.logits_allclose) << describe(c);
  ASSERT_EQ(c.layers.size(), 3u);
  EXPECT_FALSE(c.layers[0].allclose);  // conv1's channels are reordered
  EXPECT_GT(*c.layers[0].lod, 0.1);
  EXPECT_NEAR(*c.layers[0].cka, 1.0, 1e-5);  // CKA does not see the order
  EXPECT_EQ(c.verdict, Verdict::derived) << describe(c);
  // Same outputs on every probe: derived by construction, even with no calibrated rule.
  const Comparison bare = compare(fingerprint_of(make_net(1)), fingerprint_of(permuted(1)), Thresholds{});
  EXPECT_EQ(bare.verdict, Verdict::derived) << describe(bare);
  ASSERT_FALSE(bare.rules_met.empty());
  EXPECT_EQ(bare.rules_met[0].rfind("logitsAllclose", 0), 0u);
}

TEST(Compare, FreshWeightsAreUnrelated) {
  const Fingerprint ref = fingerprint_of(make_net(1));
  for (uint64_t seed : {2, 3, 4, 5, 6}) {
    const Comparison c = compare(ref, fingerprint_of(make_net(seed)), rules());
    EXPECT_TRUE(c.arch_identical);
    EXPECT_EQ(c.tensors_matching, 1);  // only the constant buffer block.scale
    EXPECT_LT(*c.metrics.weight_cosine, 0.5) << describe(c);
    EXPECT_EQ(c.verdict, Verdict::unrelated) << "seed " << seed << ": " << describe(c);
  }
}

TEST(Compare, SameWeightsUnderOtherCodeAreNotIdentical) {
  const Comparison c =
      compare(fingerprint_of(make_net(1)), fingerprint_of(make_net(1, 8, "self.fc.forward(x) * 2.0")), rules());
  EXPECT_TRUE(c.weights_identical);
  EXPECT_FALSE(c.logits_allclose);
  EXPECT_EQ(c.verdict, Verdict::derived) << describe(c);
}

TEST(Compare, OtherArchitectureIsUnrelatedAndOnlyCkaSpansTheWidths) {
  const Comparison c = compare(fingerprint_of(make_net(1)), fingerprint_of(make_net(1, 6)), rules());
  EXPECT_FALSE(c.arch_identical);
  EXPECT_TRUE(c.unmatched_layers.empty());
  ASSERT_EQ(c.layers.size(), 3u);
  // conv1 and block have 6 channels instead of 8: no LOD/LAD, but CKA; fc keeps 64×10.
  EXPECT_FALSE(c.layers[0].same_shape);
  EXPECT_FALSE(c.layers[0].lod.has_value());
  EXPECT_TRUE(c.layers[0].cka.has_value());
  EXPECT_TRUE(c.layers[2].same_shape);
  EXPECT_EQ(c.tensors_compared, 1);  // only fc.bias keeps its shape
  EXPECT_EQ(c.verdict, Verdict::unrelated) << describe(c);
}

// Two unrelated models that put every probe in class 0 agree on top-1 by chance; the class-centred
// logit correlation is what tells them apart.
TEST(Compare, ChanceTopAgreementAloneIsNotDerived) {
  Fingerprint ref;
  ref.probes = testing::probe_spec();
  ref.output_shape = {64, 3};
  ref.logits = {64, 3, {}};
  Fingerprint cand = ref;
  const at::Tensor a = at::randn({64, 3}, at::make_generator<at::CPUGeneratorImpl>(1));
  const at::Tensor b = at::randn({64, 3}, at::make_generator<at::CPUGeneratorImpl>(2));
  for (int64_t i = 0; i < 64; ++i) {
    for (int64_t k = 0; k < 3; ++k) {
      ref.logits.values.push_back((k == 0 ? 10.0f : 0.0f) + a[i][k].item<float>());
      cand.logits.values.push_back((k == 0 ? 10.0f : 0.0f) + b[i][k].item<float>());
    }
  }
  const Comparison c = compare(ref, cand, rules());
  EXPECT_EQ(c.metrics.output_agreement, 1.0);
  EXPECT_LT(std::abs(*c.metrics.logit_correlation), 0.5) << describe(c);
  EXPECT_EQ(c.verdict, Verdict::unrelated) << describe(c);

  Thresholds by_agreement;
  by_agreement.derived = {{"outputAgreement", ">=", 0.9}};
  EXPECT_EQ(compare(ref, cand, by_agreement).verdict, Verdict::derived);
}

TEST(Compare, ThresholdsDecideTheVerdicts) {
  torch::jit::Module net = make_net(1);
  perturb_last_layer(net, 0.1, 99);
  const Fingerprint ref = fingerprint_of(make_net(1)), cand = fingerprint_of(net);
  Thresholds strict;
  strict.derived = {{"weightCosine", ">=", 1.01}, {"jsDistance", "<=", -1}};
  EXPECT_EQ(compare(ref, cand, strict).verdict, Verdict::unrelated);
  Thresholds none;
  EXPECT_EQ(compare(ref, cand, none).verdict, Verdict::unrelated);
  Thresholds loose;
  loose.rtol = 1.0;
  loose.atol = 1.0;
  EXPECT_EQ(compare(ref, cand, loose).verdict, Verdict::equivalent);
}

TEST(Compare, BoundaryProbesGiveAgreementAndAccuracyGap) {
  ProbeSpec spec = testing::probe_spec();
  spec.boundary.count = 16;
  spec.boundary.epsilon = 0.3;
  spec.boundary.steps = 10;
  const torch::jit::Module net = make_net(1);
  const Fingerprint ref = compute(net, synthetic_probes(spec), spec, default_layers(net));
  const Comparison same = compare(ref, compute(net, synthetic_probes(spec), ref.probes, default_layers(net)), rules());
  EXPECT_EQ(same.metrics.boundary_agreement, 1.0);
  EXPECT_EQ(same.metrics.boundary_accuracy_gap, 0.0);

  const torch::jit::Module other = make_net(5);
  const Comparison c = compare(ref, compute(other, synthetic_probes(spec), ref.probes, default_layers(other)), rules());
  ASSERT_TRUE(c.metrics.boundary_agreement.has_value());
  EXPECT_LT(*c.metrics.boundary_agreement, 1.0);
  EXPECT_GT(*c.metrics.boundary_accuracy_gap, 0.0);
}

TEST(Compare, MismatchedProbeSpecsThrow) {
  const torch::jit::Module net = make_net(1);
  const Fingerprint ref = fingerprint_of(net, 7);
  EXPECT_THROW(compare(ref, fingerprint_of(net, 8), rules()), std::invalid_argument);

  Fingerprint moved = ref;
  moved.probes.data_path = "/elsewhere/data.npz";  // same data at another path still compares
  EXPECT_EQ(compare(ref, moved, rules()).verdict, Verdict::identical);
  moved.probes.real = 1;
  EXPECT_THROW(compare(ref, moved, rules()), std::invalid_argument);
}

TEST(Compare, JsonCarriesVerdictThresholdsAndMetrics) {
  torch::jit::Module net = make_net(1);
  perturb_last_layer(net, 0.1, 99);
  const Comparison c = compare(fingerprint_of(make_net(1)), fingerprint_of(net), rules());
  const nlohmann::json j = c.to_json();
  EXPECT_EQ(j["verdict"], "derived");
  EXPECT_EQ(j["thresholds"]["rtol"], 1e-4);
  EXPECT_EQ(j["thresholds"]["source"], "test");
  EXPECT_EQ(j["thresholds"]["derived"]["rules"][0]["metric"], "weightCosine");
  for (const std::string& name : metric_names()) EXPECT_TRUE(j["metrics"].contains(name)) << name;
  EXPECT_TRUE(j["metrics"]["boundaryAgreement"].is_null());  // no boundary probes here
  for (const char* key : {"weightsIdentical", "archIdentical", "tensorsMatching", "tensorsCompared", "tensorsReference",
                          "tensorsCandidate", "outputsComparable", "logitsAllclose", "maxLogitAbsDiff",
                          "maxLogitRelDiff", "layersAllclose", "layers", "unmatchedLayers", "rulesMet"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["layers"].size(), 3u);
  EXPECT_EQ(j["layers"][0]["name"], "conv1");
  EXPECT_NEAR(j["layers"][0]["cka"].get<double>(), 1.0, 1e-9);
  EXPECT_GT(j["maxLogitRelDiff"].get<double>(), 1e-4);
}

TEST(Thresholds, ParsedFromTheCalibrationFormat) {
  const nlohmann::json good = {{"formatVersion", 1},
                               {"derived", {{"combine", "any"}, {"rules", {{{"metric", "cka"}, {"op", ">="}, {"value", 0.8}}}}}}};
  const Thresholds t = thresholds_from_json(good, "t.json");
  ASSERT_EQ(t.derived.size(), 1u);
  EXPECT_EQ(t.derived[0].metric, "cka");
  EXPECT_EQ(t.derived[0].value, 0.8);
  EXPECT_EQ(t.source, "t.json");

  auto error_of = [](const nlohmann::json& j) {
    try {
      thresholds_from_json(j, "t.json");
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  nlohmann::json j = good;
  j["derived"]["rules"][0]["metric"] = "accuracy";
  EXPECT_NE(error_of(j).find("t.json: 'derived.rules[0].metric'"), std::string::npos) << error_of(j);
  j = good;
  j["derived"]["rules"][0]["op"] = ">";
  EXPECT_NE(error_of(j).find("'derived.rules[0].op'"), std::string::npos) << error_of(j);
  j = good;
  j["derived"]["combine"] = "all";
  EXPECT_NE(error_of(j).find("'derived.combine'"), std::string::npos) << error_of(j);
  j = good;
  j["formatVersion"] = 2;
  EXPECT_NE(error_of(j).find("'formatVersion'"), std::string::npos) << error_of(j);
}

TEST(Thresholds, CalibratedRulesAreCompiledIn) {
  const Thresholds& t = calibrated_thresholds();
  EXPECT_FALSE(t.derived.empty());
  EXPECT_EQ(t.source, "fingerprint/thresholds.json");
  for (const Rule& r : t.derived) EXPECT_NO_THROW(Metrics{}.get(r.metric)) << r.metric;
  EXPECT_THROW(Metrics{}.get("accuracy"), std::invalid_argument);
}

TEST(Compare, VerdictNames) {
  EXPECT_EQ(to_string(Verdict::identical), "identical");
  EXPECT_EQ(to_string(Verdict::equivalent), "equivalent");
  EXPECT_EQ(to_string(Verdict::derived), "derived");
  EXPECT_EQ(to_string(Verdict::unrelated), "unrelated");
}

TEST(Compare, CudaCopyMatchesCpuReference) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  // cuDNN convolutions default to TF32 (~1e-3 relative error), beyond any "same output"
  // tolerance; cross-device fingerprints need full float32, which the caller must choose.
  const bool tf32 = at::globalContext().allowTF32CuDNN();
  at::globalContext().setAllowTF32CuDNN(false);
  torch::jit::Module gpu = make_net(1);
  gpu.to(at::Device(at::kCUDA));
  const Comparison c = compare(fingerprint_of(make_net(1)), fingerprint_of(gpu), rules());
  at::globalContext().setAllowTF32CuDNN(tf32);
  EXPECT_TRUE(c.weights_identical);
  EXPECT_EQ(c.verdict, Verdict::identical) << describe(c);
}

}  // namespace
}  // namespace modelgate::fingerprint
