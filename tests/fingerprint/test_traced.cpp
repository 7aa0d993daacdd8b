// Traced and scripted models saved by PyTorch (tests/fingerprint/fixtures/make_fixtures.py),
// checked against what plain PyTorch computed for them.
#include "fingerprint/fingerprint.h"

#include "tests/fingerprint/test_models.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace modelgate::fingerprint {
namespace {

using testing::fixture;

nlohmann::json reference() {
  std::ifstream in(fixture("reference.json"));
  return nlohmann::json::parse(in);
}

torch::jit::Module load(const std::string& name) {
  torch::jit::Module m = torch::jit::load(fixture(name));
  m.eval();
  return m;
}

ProbeSpec reference_spec(const nlohmann::json& ref) {
  ProbeSpec spec;
  spec.seed = ref["probes"]["seed"].get<uint64_t>();
  spec.synthetic = ref["probes"]["synthetic"].get<int64_t>();
  spec.input_shape = ref["probes"]["inputShape"].get<std::vector<int64_t>>();
  return spec;
}

std::vector<std::string> reference_layers(const nlohmann::json& ref) {
  std::vector<std::string> names;
  for (const auto& l : ref["layers"]) names.push_back(l["name"]);
  return names;
}

Fingerprint fingerprint_file(const std::string& name, const ProbeSpec& spec) {
  Fingerprint fp = compute(load(name), synthetic_probes(spec), spec, reference_layers(reference()));
  fp.model_sha256 = file_sha256(fixture(name));
  return fp;
}

void expect_close(const std::vector<float>& got, const nlohmann::json& want, const std::string& what) {
  const nlohmann::json flat = want.is_array() && !want.empty() && want[0].is_array() ? [&] {
    nlohmann::json f = nlohmann::json::array();
    for (const auto& row : want) f.insert(f.end(), row.begin(), row.end());
    return f;
  }() : want;
  ASSERT_EQ(got.size(), flat.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    const double w = flat[i].get<double>();
    EXPECT_NEAR(got[i], w, 1e-5 * (1 + std::abs(w))) << what << "[" << i << "]";
  }
}

TEST(Traced, ProbesAndDigestsMatchPython) {
  const nlohmann::json ref = reference();
  EXPECT_EQ(tensor_sha256(synthetic_probes(reference_spec(ref))), ref["probesSha256"]);
  const Fingerprint fp = fingerprint_file("traced_cnn.pt", reference_spec(ref));
  EXPECT_EQ(nlohmann::json(fp.digests()), ref["tensors"]);
}

TEST(Traced, LayersAndLogitsMatchPythonHooks) {
  const nlohmann::json ref = reference();
  for (const char* name : {"traced_cnn.pt", "scripted_cnn.pt"}) {
    SCOPED_TRACE(name);
    // Nested modules included, in the order forward() produces them, as the Python hooks saw.
    EXPECT_EQ(capturable_layers(load(name)), reference_layers(ref));
    EXPECT_EQ(default_layers(load(name)), (std::vector<std::string>{"conv1", "block", "fc"}));
    const Fingerprint fp = fingerprint_file(name, reference_spec(ref));
    ASSERT_EQ(fp.layers.size(), ref["layers"].size());
    for (size_t i = 0; i < fp.layers.size(); ++i) {
      EXPECT_EQ(fp.layers[i].name, ref["layers"][i]["name"]);
      EXPECT_EQ(nlohmann::json(fp.layers[i].shape), ref["layers"][i]["shape"]);
      expect_close(fp.layers[i].channel_means.values, ref["layers"][i]["channelMeans"], fp.layers[i].name);
    }
    EXPECT_EQ(nlohmann::json(fp.output_shape), ref["outputShape"]);
    expect_close(fp.logits.values, ref["logits"], "logits");
  }
}

TEST(Traced, TracedAndScriptedCopiesAreIdentical) {
  const ProbeSpec spec = reference_spec(reference());
  const Fingerprint traced = fingerprint_file("traced_cnn.pt", spec);
  const Fingerprint scripted = fingerprint_file("scripted_cnn.pt", spec);
  EXPECT_NE(traced.model_sha256, scripted.model_sha256);
  EXPECT_EQ(traced.arch_sha256, scripted.arch_sha256)
      << arch_description(load("traced_cnn.pt")) << "vs\n" << arch_description(load("scripted_cnn.pt"));
  const Comparison c = compare(traced, scripted, Thresholds{});
  EXPECT_EQ(c.verdict, Verdict::identical) << c.to_json().dump();
}

TEST(Traced, LoadedModuleIsUnchangedByCapture) {
  const torch::jit::Module m = load("traced_cnn.pt");
  const std::string before = m.get_method("forward").graph()->toString();
  const ProbeSpec spec = reference_spec(reference());
  capture(m, synthetic_probes(spec), capturable_layers(m));
  EXPECT_EQ(m.get_method("forward").graph()->toString(), before);
}

// The demo model, when scripts/make_demo.py has produced it; its "modelgate.json" extra file
// gives the sample shape.
TEST(Traced, DemoDigitsModelSelfCompares) {
  const std::string path = std::string(MODELGATE_SOURCE_DIR) + "/configs/models/digits_cnn.pt";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not built";
  torch::jit::ExtraFilesMap extra{{"modelgate.json", ""}};
  torch::jit::Module m = torch::jit::load(path, std::nullopt, extra);
  m.eval();
  const nlohmann::json meta = nlohmann::json::parse(extra["modelgate.json"], nullptr, false);
  if (!meta.is_object() || !meta.contains("input_shape")) GTEST_SKIP() << "no input_shape in modelgate.json";
  ProbeSpec spec;
  spec.seed = 3;
  spec.synthetic = 32;
  spec.input_shape = meta["input_shape"].get<std::vector<int64_t>>();

  const std::string before = m.get_method("forward").graph()->toString();
  const Fingerprint fp = compute(m, synthetic_probes(spec), spec, default_layers(m));
  EXPECT_EQ(m.get_method("forward").graph()->toString(), before);
  std::vector<std::string> names;
  for (const LayerSummary& l : fp.layers) names.push_back(l.name);
  // pool, fc1 and conv2 come with mangled class names in a scripted file; none may leak.
  EXPECT_EQ(arch_description(m).find("mangle"), std::string::npos) << arch_description(m);
  EXPECT_EQ(names, default_layers(m));
  EXPECT_FALSE(names.empty());
  EXPECT_EQ(compare(fp, compute(m.clone(), synthetic_probes(spec), spec, names)).verdict, Verdict::identical);
}

}  // namespace
}  // namespace modelgate::fingerprint
