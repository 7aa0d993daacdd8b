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

TEST(Compare, CopyIsIdentical) {
  const torch::jit::Module net = make_net(1);
  const Fingerprint ref = fingerprint_of(net);
  const Comparison rebuilt = compare(ref, fingerprint_of(make_net(1)));
  EXPECT_EQ(rebuilt.verdict, Verdict::identical) << describe(rebuilt);
  EXPECT_TRUE(rebuilt.weights_identical);
  EXPECT_EQ(rebuilt.tensors_matching, 7);
  EXPECT_EQ(rebuilt.top_agreement, 1.0);

  const Comparison cloned = compare(ref, fingerprint_of(net.clone()));
  EXPECT_EQ(cloned.verdict, Verdict::identical) << describe(cloned);
}

TEST(Compare, TinyRescaleIsEquivalent) {
  torch::jit::Module net = make_net(1);
  scale_parameters(net, 1 + 1e-7);
  const Comparison c = compare(fingerprint_of(make_net(1)), fingerprint_of(net));
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
  const Comparison c = compare(fingerprint_of(make_net(1)), fingerprint_of(net));
  EXPECT_FALSE(c.logits_allclose);
  EXPECT_EQ(c.tensors_matching, 6);
  ASSERT_EQ(c.layers.size(), 3u);
  EXPECT_TRUE(c.layers[0].allclose);
  EXPECT_FALSE(c.layers[2].allclose);
  EXPECT_EQ(c.verdict, Verdict::derived) << describe(c);
}

TEST(Compare, FreshWeightsAreUnrelated) {
  const Fingerprint ref = fingerprint_of(make_net(1));
  for (uint64_t seed : {2, 3, 4, 5, 6}) {
    const Comparison c = compare(ref, fingerprint_of(make_net(seed)));
    EXPECT_TRUE(c.arch_identical);
    EXPECT_EQ(c.tensors_matching, 1);  // only the constant buffer block.scale
    EXPECT_EQ(c.verdict, Verdict::unrelated) << "seed " << seed << ": " << describe(c);
  }
}

TEST(Compare, SameWeightsUnderOtherCodeAreNotIdentical) {
  const Comparison c = compare(fingerprint_of(make_net(1)), fingerprint_of(make_net(1, 8, "self.fc.forward(x) * 2.0")));
  EXPECT_TRUE(c.weights_identical);
  EXPECT_FALSE(c.logits_allclose);
  EXPECT_EQ(c.verdict, Verdict::derived) << describe(c);
}

TEST(Compare, OtherArchitectureIsUnrelatedAndLayersDoNotMatch) {
  const Comparison c = compare(fingerprint_of(make_net(1)), fingerprint_of(make_net(1, 6)));
  EXPECT_FALSE(c.arch_identical);
  // fc keeps its 64×10 shape; conv1 and block have 6 channels instead of 8.
  EXPECT_EQ(c.unmatched_layers, (std::vector<std::string>{"block", "conv1"}));
  EXPECT_EQ(c.verdict, Verdict::unrelated) << describe(c);
}

// Two unrelated models that put every probe in class 0 agree on top-1 by chance; the class-centred
// logit correlation is what tells them apart.
TEST(Compare, ChanceTopAgreementAloneIsNotDerived) {
  Fingerprint ref;
  ref.probes = testing::probe_spec();
  ref.output_shape = {64, 3};
  Fingerprint cand = ref;
  const at::Tensor a = at::randn({64, 3}, at::make_generator<at::CPUGeneratorImpl>(1));
  const at::Tensor b = at::randn({64, 3}, at::make_generator<at::CPUGeneratorImpl>(2));
  for (int64_t i = 0; i < 64; ++i) {
    for (int64_t k = 0; k < 3; ++k) {
      ref.logits.push_back((k == 0 ? 10.0f : 0.0f) + a[i][k].item<float>());
      cand.logits.push_back((k == 0 ? 10.0f : 0.0f) + b[i][k].item<float>());
    }
  }
  const Comparison c = compare(ref, cand);
  EXPECT_EQ(c.top_agreement, 1.0);
  EXPECT_LT(std::abs(*c.logit_correlation), 0.5) << describe(c);
  EXPECT_EQ(c.verdict, Verdict::unrelated) << describe(c);

  Thresholds unguarded;
  unguarded.min_logit_correlation = -1;
  EXPECT_EQ(compare(ref, cand, unguarded).verdict, Verdict::derived);
}

TEST(Compare, ThresholdsDecideTheProvisionalVerdicts) {
  torch::jit::Module net = make_net(1);
  perturb_last_layer(net, 0.1, 99);
  const Fingerprint ref = fingerprint_of(make_net(1)), cand = fingerprint_of(net);
  Thresholds strict;
  strict.min_top_agreement = 1.01;
  strict.min_layer_correlation = 1.01;
  EXPECT_EQ(compare(ref, cand, strict).verdict, Verdict::unrelated);
  Thresholds loose;
  loose.rtol = 1.0;
  loose.atol = 1.0;
  EXPECT_EQ(compare(ref, cand, loose).verdict, Verdict::equivalent);
}

TEST(Compare, MismatchedProbeSpecsThrow) {
  const torch::jit::Module net = make_net(1);
  const Fingerprint ref = fingerprint_of(net, 7);
  EXPECT_THROW(compare(ref, fingerprint_of(net, 8)), std::invalid_argument);

  Fingerprint moved = ref;
  moved.probes.data_path = "/elsewhere/data.npz";  // same data at another path still compares
  EXPECT_EQ(compare(ref, moved).verdict, Verdict::identical);
  moved.probes.real = 1;
  EXPECT_THROW(compare(ref, moved), std::invalid_argument);
}

TEST(Compare, JsonCarriesVerdictThresholdsAndMetrics) {
  torch::jit::Module net = make_net(1);
  perturb_last_layer(net, 0.1, 99);
  const Comparison c = compare(fingerprint_of(make_net(1)), fingerprint_of(net));
  const nlohmann::json j = c.to_json();
  EXPECT_EQ(j["verdict"], "derived");
  EXPECT_EQ(j["thresholds"]["rtol"], 1e-4);
  EXPECT_EQ(j["thresholds"]["minLayerCorrelation"], 0.9);
  for (const char* key : {"atol", "minTopAgreement", "minLogitCorrelation"}) {
    EXPECT_TRUE(j["thresholds"].contains(key)) << key;
  }
  for (const char* key : {"weightsIdentical", "archIdentical", "tensorsMatching", "tensorsReference",
                          "tensorsCandidate", "outputsComparable", "logitsAllclose", "topAgreement",
                          "maxLogitAbsDiff", "maxLogitRelDiff", "logitCorrelation", "layersAllclose",
                          "layerCorrelation", "layers", "unmatchedLayers"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["layers"].size(), 3u);
  EXPECT_EQ(j["layers"][0]["name"], "conv1");
  EXPECT_EQ(j["layers"][0]["correlation"], 1.0);
  EXPECT_GT(j["maxLogitRelDiff"].get<double>(), 1e-4);
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
  const Comparison c = compare(fingerprint_of(make_net(1)), fingerprint_of(gpu));
  at::globalContext().setAllowTF32CuDNN(tf32);
  EXPECT_TRUE(c.weights_identical);
  EXPECT_EQ(c.verdict, Verdict::identical) << describe(c);
}

}  // namespace
}  // namespace modelgate::fingerprint
