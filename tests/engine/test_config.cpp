#include "engine/config.h"
#include "engine/errors.h"
#include "engine/yaml_load.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace modelgate::engine;

namespace {

class JobFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("modelgate-config-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& text) {
    auto p = dir_ / "job.yaml";
    std::ofstream(p) << text;
    return p;
  }
  std::string error_of(const std::string& text) {
    try {
      load_job(write(text));
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir_;
};

const char* kJob = R"(apiVersion: security.nootropic.ai/v1
kind: ValidationJob
metadata: {name: nightly}
spec:
  models: [{name: m, path: models/m.pt}]
  dataset: {path: data/d.npz, batchSize: 32}
  seed: 7
  reports: {format: json, location: ./out}
)";

}  // namespace

TEST_F(JobFile, ValidationJobResolvesPathsAgainstTheJobFolder) {
  const auto job = load_job(write(kJob));
  EXPECT_EQ(job.name, "nightly");
  ASSERT_EQ(job.models.size(), 1u);
  EXPECT_EQ(job.models[0].path, (dir_ / "models/m.pt").lexically_normal());
  EXPECT_EQ(job.dataset.path, (dir_ / "data/d.npz").lexically_normal());
  EXPECT_EQ(job.report_location, (dir_ / "out").lexically_normal());
  EXPECT_EQ(job.batch_size, 32);
  EXPECT_EQ(job.seed, 7u);
  EXPECT_EQ(job.device, "auto");
  EXPECT_TRUE(job.warnings.empty());
}

TEST_F(JobFile, SeedManifestsReadWithDefaults) {
  const auto job = load_job(write(std::string(kJob) + R"(---
apiVersion: security.nootropic.ai/v1
kind: AdversarialTesting
metadata:
  name: nootropic-adversarial
spec:
  attacks:
    - type: fgsm
      epsilon: 0.03
    - type: pgd
      steps: 10
  schedule:
    frequency: weekly
    duration: 2h
---
apiVersion: security.nootropic.ai/v1
kind: RobustnessTesting
metadata:
  name: nootropic-robustness
spec:
  tests:
    - type: noise
      level: 0.1
    - type: blur
      kernel: 3x3
---
apiVersion: security.nootropic.ai/v1
kind: ModelVulnerabilityScanning
metadata:
  name: scan
spec:
  severity:
    critical: block
    high: review
    low: warn
---
apiVersion: security.nootropic.ai/v1
kind: ModelWatermarking
metadata:
  name: wm
spec:
  type: digital
)"));
  ASSERT_EQ(job.attacks.size(), 2u);
  EXPECT_EQ(job.attacks[0].kind, AttackKind::fgsm);
  EXPECT_DOUBLE_EQ(job.attacks[0].epsilon, 0.03);
  EXPECT_DOUBLE_EQ(job.attacks[0].step_size, 0.03);  // FGSM's one step is ε
  EXPECT_EQ(job.attacks[0].steps, 1);
  const auto& pgd = job.attacks[1];
  EXPECT_EQ(pgd.kind, AttackKind::pgd);
  EXPECT_EQ(pgd.steps, 10);
  EXPECT_DOUBLE_EQ(pgd.epsilon, 8.0 / 255.0);
  EXPECT_DOUBLE_EQ(pgd.step_size, 2.5 * (8.0 / 255.0) / 10);  // Madry et al.'s default, resolved here
  EXPECT_TRUE(pgd.random_start);
  EXPECT_EQ(pgd.check(), "adversarial/pgd/eps=0.03137");
  EXPECT_EQ(pgd.severity, Severity::high);
  EXPECT_EQ(pgd.manifest, "nootropic-adversarial");
  ASSERT_EQ(job.corruptions.size(), 2u);
  EXPECT_EQ(job.corruptions[0].kind, CorruptionKind::gaussian_noise);
  EXPECT_DOUBLE_EQ(job.corruptions[0].level, 0.1);
  EXPECT_EQ(job.corruptions[1].kind, CorruptionKind::gaussian_blur);
  EXPECT_EQ(job.corruptions[1].kernel, 3);
  EXPECT_DOUBLE_EQ(job.corruptions[1].sigma, 0.8);  // OpenCV's default for k = 3: 0.3·((3−1)·0.5−1)+0.8
  EXPECT_EQ(job.report_formats, std::vector<ReportFormat>{ReportFormat::json});
  EXPECT_EQ(job.actions.at(Severity::low), Action::warn);
  ASSERT_EQ(job.manifests.size(), 5u);
  EXPECT_FALSE(job.manifests.back().handled);
  bool watermark_warned = false, schedule_noted = false;
  for (const auto& w : job.warnings) {
    watermark_warned |= w.find("ModelWatermarking") != std::string::npos;
    schedule_noted |= w.find("schedule") != std::string::npos;
  }
  EXPECT_TRUE(watermark_warned);
  EXPECT_TRUE(schedule_noted);
}

TEST_F(JobFile, SweepsFractionsAndGates) {
  const auto job = load_job(write(std::string(kJob) + R"(---
apiVersion: security.nootropic.ai/v1
kind: AdversarialTesting
metadata: {name: adv}
spec:
  attacks:
    - {type: pgd, epsilon: [8/255, 0.1], steps: 5, stepSize: 0.01, randomStart: false, minAccuracy: 0.5, severity: critical}
---
apiVersion: security.nootropic.ai/v1
kind: RobustnessTesting
metadata: {name: rob}
spec:
  tests:
    - {type: noise, level: [0.05, 0.1]}
    - {type: blur, kernel: 5x5, sigma: 1.5}
)"));
  // A sweep is one plan per ε, each with every other option.
  ASSERT_EQ(job.attacks.size(), 2u);
  for (const auto& a : job.attacks) {
    EXPECT_DOUBLE_EQ(a.step_size, 0.01);
    EXPECT_FALSE(a.random_start);
    EXPECT_DOUBLE_EQ(*a.min_accuracy, 0.5);
    EXPECT_EQ(a.severity, Severity::critical);
    EXPECT_EQ(a.steps, 5);
  }
  EXPECT_DOUBLE_EQ(job.attacks[0].epsilon, 8.0 / 255.0);
  EXPECT_DOUBLE_EQ(job.attacks[1].epsilon, 0.1);
  EXPECT_EQ(job.attacks[1].description(), "pgd eps=0.1 steps=5");
  ASSERT_EQ(job.corruptions.size(), 3u);
  EXPECT_DOUBLE_EQ(job.corruptions.at(0).level, 0.05);
  EXPECT_DOUBLE_EQ(job.corruptions.at(1).level, 0.1);
  EXPECT_EQ(job.corruptions.at(2).kernel, 5);
  EXPECT_DOUBLE_EQ(job.corruptions.at(2).sigma, 1.5);
  EXPECT_EQ(job.corruptions.at(2).check(), "robustness/gaussian_blur/kernel=5");
}

TEST_F(JobFile, UnknownFieldsWarnWithLineNumbers) {
  const auto job = load_job(write(std::string(kJob) + "  colour: blue\n"));
  ASSERT_EQ(job.warnings.size(), 1u);
  EXPECT_NE(job.warnings[0].find("job.yaml:9"), std::string::npos) << job.warnings[0];
  EXPECT_NE(job.warnings[0].find("spec.colour"), std::string::npos);
}

TEST_F(JobFile, ErrorsNameFileLineAndField) {
  const std::string adv = std::string(kJob) +
                          "---\napiVersion: security.nootropic.ai/v1\nkind: AdversarialTesting\nmetadata: {name: adv}\nspec:\n  attacks:\n";
  auto e = error_of(adv + "    - {type: fgsm, epsilon: -0.1}\n");
  EXPECT_NE(e.find("job.yaml:15"), std::string::npos) << e;
  EXPECT_NE(e.find("spec.attacks[0].epsilon"), std::string::npos) << e;
  e = error_of(adv + "    - {type: cw}\n");
  EXPECT_NE(e.find("unknown attack 'cw'"), std::string::npos) << e;
  e = error_of(adv + "    - {type: pgd, steps: 0}\n");
  EXPECT_NE(e.find("steps"), std::string::npos) << e;
  e = error_of(adv + "    - {type: fgsm, minAccuracy: 1.5}\n");
  EXPECT_NE(e.find("minAccuracy"), std::string::npos) << e;
  e = error_of(adv + "    - {type: fgsm, severity: urgent}\n");
  EXPECT_NE(e.find("severity"), std::string::npos) << e;
  const std::string rob = std::string(kJob) +
                          "---\napiVersion: security.nootropic.ai/v1\nkind: RobustnessTesting\nmetadata: {name: r}\nspec:\n  tests:\n";
  EXPECT_NE(error_of(rob + "    - {type: blur, kernel: 4x4}\n").find("odd"), std::string::npos);
  EXPECT_NE(error_of(rob + "    - {type: blur, kernel: 3x5}\n").find("square"), std::string::npos);
  EXPECT_NE(error_of(rob + "    - {type: noise}\n").find("level"), std::string::npos);
}

TEST_F(JobFile, StructuralErrors) {
  EXPECT_NE(error_of("a: [1, 2\n").find("YAML syntax error"), std::string::npos);
  EXPECT_NE(error_of("apiVersion: v9\nkind: ValidationJob\n").find("apiVersion"), std::string::npos);
  EXPECT_NE(error_of("apiVersion: security.nootropic.ai/v1\nkind: AdversarialTesting\nspec: {attacks: []}\n")
                .find("exactly one ValidationJob"),
            std::string::npos);
  EXPECT_NE(error_of("apiVersion: security.nootropic.ai/v1\nkind: ValidationJob\nspec: {dataset: {path: d.npz}}\n")
                .find("spec.models"),
            std::string::npos);
  EXPECT_THROW(load_job(dir_ / "missing.yaml"), InputError);
}

TEST_F(JobFile, ApgdTakesL2AndTheActiveSet) {
  const std::string adv = std::string(kJob) +
                          "---\napiVersion: security.nootropic.ai/v1\nkind: AdversarialTesting\nmetadata: {name: adv}\nspec:\n  attacks:\n";
  const auto job = load_job(write(adv + "    - {type: apgd, norm: l2, loss: dlr, activeSet: false}\n"
                                        "    - {type: apgd}\n"
                                        "    - {type: apgd, stepSize: 0.1, target: 3}\n"));
  ASSERT_EQ(job.attacks.size(), 3u);
  const auto& l2 = job.attacks[0];
  EXPECT_EQ(l2.norm, modelgate::attacks::Norm::l2);
  EXPECT_EQ(l2.loss, modelgate::attacks::ApgdLoss::dlr);
  EXPECT_FALSE(l2.active_set);
  EXPECT_EQ(l2.steps, 100);
  EXPECT_DOUBLE_EQ(l2.epsilon, 0.5);  // the L2 default radius
  EXPECT_DOUBLE_EQ(l2.step_size, 1.0);  // APGD's first step, 2ε
  EXPECT_EQ(l2.name(), "apgd-dlr-l2");
  const auto& linf = job.attacks[1];
  EXPECT_EQ(linf.norm, modelgate::attacks::Norm::linf);
  EXPECT_TRUE(linf.active_set);  // the default, as for pgd
  EXPECT_DOUBLE_EQ(linf.epsilon, 8.0 / 255.0);
  // stepSize and target do not apply to apgd: each is named in a warning and ignored.
  ASSERT_EQ(job.warnings.size(), 2u);
  EXPECT_NE(job.warnings[0].find("spec.attacks[2].stepSize"), std::string::npos) << job.warnings[0];
  EXPECT_NE(job.warnings[1].find("spec.attacks[2].target"), std::string::npos) << job.warnings[1];
  EXPECT_EQ(job.attacks[2].target, modelgate::attacks::Target::none);
  EXPECT_NE(error_of(adv + "    - {type: apgd, norm: l1}\n").find("spec.attacks[0].norm"), std::string::npos);
  EXPECT_NE(error_of(adv + "    - {type: apgd, activeSet: maybe}\n").find("spec.attacks[0].activeSet"), std::string::npos);
}

TEST_F(JobFile, ReportFormatsTakeANameOrAListAndAlwaysIncludeJson) {
  const std::string head =
      "apiVersion: security.nootropic.ai/v1\nkind: ValidationJob\nmetadata: {name: n}\nspec:\n"
      "  models: [{path: m.pt}]\n  dataset: {path: d.npz}\n";
  auto job = load_job(write(head + "  reports: {format: [html, junit, html, prometheus]}\n"));
  EXPECT_EQ(job.report_formats, (std::vector<ReportFormat>{ReportFormat::json, ReportFormat::html, ReportFormat::junit,
                                                           ReportFormat::prometheus}));
  job = load_job(write(head + "  reports: {format: junit}\n"));
  EXPECT_EQ(job.report_formats, (std::vector<ReportFormat>{ReportFormat::json, ReportFormat::junit}));
  const auto e = error_of(head + "  reports: {format: [json, pdf]}\n");
  EXPECT_NE(e.find("spec.reports.format"), std::string::npos) << e;
  EXPECT_NE(e.find("'pdf'"), std::string::npos) << e;
  // The scanning manifest's format applies when the ValidationJob gives none, and loses to it otherwise.
  const std::string scan = "---\napiVersion: security.nootropic.ai/v1\nkind: ModelVulnerabilityScanning\n"
                           "metadata: {name: s}\nspec: {reports: {format: [json, html]}}\n";
  job = load_job(write(head + scan));
  EXPECT_EQ(job.report_formats, (std::vector<ReportFormat>{ReportFormat::json, ReportFormat::html}));
  job = load_job(write(head + "  reports: {format: junit}\n" + scan));
  EXPECT_EQ(job.report_formats, (std::vector<ReportFormat>{ReportFormat::json, ReportFormat::junit}));
}

TEST_F(JobFile, CountsPastTheirLimitsAreRefusedNamingFieldAndLimit) {
  const std::string adv = std::string(kJob) +
                          "---\napiVersion: security.nootropic.ai/v1\nkind: AdversarialTesting\nmetadata: {name: adv}\nspec:\n  attacks:\n";
  auto e = error_of(adv + "    - {type: pgd, steps: 1e9}\n");
  EXPECT_NE(e.find("spec.attacks[0].steps: 1e9 is over the limit of 10000"), std::string::npos) << e;
  e = error_of(adv + "    - {type: apgd, restarts: 1000000000}\n");
  EXPECT_NE(e.find("spec.attacks[0].restarts: 1000000000 is over the limit of 100"), std::string::npos) << e;
  std::string sweep = "[0.001";
  for (int i = 2; i <= 100000; ++i) sweep += ", " + std::to_string(i) + "/100000";
  e = error_of(adv + "    - {type: fgsm, epsilon: " + sweep + "]}\n");
  EXPECT_NE(e.find("spec.attacks[0].epsilon: has 100000 values, over the limit of 100"), std::string::npos) << e;
  // At the limits themselves the job reads.
  EXPECT_EQ(error_of(adv + "    - {type: pgd, steps: 10000, restarts: 100}\n"), "");
  const std::string fp = std::string(kJob) +
                         "---\napiVersion: security.nootropic.ai/v1\nkind: ModelFingerprinting\nmetadata: {name: f}\nspec:\n";
  e = error_of(fp + "  probes: 1e9\n");
  EXPECT_NE(e.find("spec.probes: 1e9 is over the limit of 100000"), std::string::npos) << e;
}

TEST_F(JobFile, KeysThatAreNotNamesAreInputErrors) {
  // yaml-cpp would throw "bad conversion" converting these keys; the reader names the place.
  auto e = error_of(std::string(kJob) + "  ? [a, b]\n  : 1\n");
  EXPECT_NE(e.find("job.yaml:"), std::string::npos) << e;
  EXPECT_NE(e.find("expected a plain name as the key"), std::string::npos) << e;
  e = error_of(std::string(kJob) + "---\napiVersion: security.nootropic.ai/v1\nkind: ModelVulnerabilityScanning\n"
                                   "metadata: {name: s}\nspec:\n  severity: {? {a: 1} : block}\n");
  EXPECT_NE(e.find("spec.severity key"), std::string::npos) << e;
}

TEST_F(JobFile, YamlNestedTooDeeplyIsAnInputError) {
  const auto e = error_of(std::string(kJob) + "  deep: " + std::string(100000, '[') + std::string(100000, ']') + "\n");
  EXPECT_NE(e.find("YAML nests deeper than"), std::string::npos) << e;
}

TEST_F(JobFile, AStrayCommaIsASyntaxErrorNotAnEndlessStreamOfDocuments) {
  // yaml-cpp 0.7's LoadAll loops on these, filling the memory (found by tests/fuzz/fuzz_job).
  for (const std::string text : {std::string(",e:"), std::string(",\0\xd6\xff\0\xff,", 7), std::string(kJob) + "---\n,\n"}) {
    const auto e = error_of(text);
    EXPECT_NE(e.find("YAML syntax error: unexpected character where a document should start"), std::string::npos) << e;
  }
  EXPECT_NE(error_of(",e:").find("job.yaml:1:1:"), std::string::npos) << error_of(",e:");
  std::string many;
  for (size_t i = 0; i <= kMaxYamlDocuments; ++i) many += "--- " + std::to_string(i) + "\n";
  EXPECT_NE(error_of(many).find("more than 1000 documents"), std::string::npos) << error_of(many);
}

TEST_F(JobFile, AJobFileTooLargeToBeOneIsRefusedBeforeParsing) {
  auto p = dir_ / "big.yaml";
  {
    std::ofstream out(p);
    out << kJob << "# ";
    out << std::string((16u << 20) + 1, 'x') << "\n";
  }
  try {
    load_job(p);
    FAIL() << "a 16 MiB job file was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("over the limit"), std::string::npos) << e.what();
  }
}
