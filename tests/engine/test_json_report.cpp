#include "engine/errors.h"
#include "engine/report/json_report.h"
#include "engine/report/prometheus.h"
#include "engine/report/summary.h"

#include <gtest/gtest.h>

using namespace modelgate::engine;
namespace ma = modelgate::attacks;

namespace {

// A result that exercises every optional and variant field the report has.
JobResult sample_result() {
  JobResult r;
  r.tool_version = "0.1.0";
  r.environment = {"0.1.0", "2.11.0", std::string("13.0"), std::nullopt, false, 0, 2};
  r.job_name = "nightly \"quoted\"";
  r.job_path = "/jobs/nightly.yaml";
  r.device = "cpu";
  r.seed = 7;
  r.started_at = "2026-12-02T03:00:00.250Z";
  r.finished_at = "2026-12-02T03:00:12.750Z";
  r.kernels = {true, {{"linf_step_", "cpu"}, {"gaussian_blur", "reference"}}};
  r.dataset.path = "/data/d.npz";
  r.dataset.samples = 450;
  r.dataset.input_shape = {1, 8, 8};
  r.dataset.batch_size = 128;
  r.dataset.format = "npz";
  r.dataset.storage = "float32 NCHW, in memory";
  r.dataset.file_samples = 500;
  r.dataset.selection = "the first 450";
  r.dataset.skipped_files = {"cat/bad.png"};
  r.dataset.batch_auto = true;
  r.dataset.memory_budget = 1 << 30;
  r.manifests = {{"ValidationJob", "nightly", true}, {"ModelWatermarking", "wm", false}};
  r.warnings = {"a warning"};
  ModelResult m;
  m.name = "cnn";
  m.path = "/models/cnn.pt";
  m.sha256 = std::string(64, 'a');
  m.clean = {443, 450};
  m.normalize = Normalization{{0.5}, {0.25}};
  m.batch_size = 64;
  m.sample_bytes = 123456;
  m.batch_retries = {{"clean evaluation", 0, 128, 64, "out of memory"}};
  AttackOutcome fgsm;
  fgsm.plan.kind = AttackKind::fgsm;
  fgsm.plan.manifest = "adv";
  fgsm.plan.epsilon = 0.1;
  fgsm.plan.step_size = 0.1;
  fgsm.plan.target = ma::Target::label;
  fgsm.plan.target_label = 3;
  fgsm.robust = {239, 450};
  fgsm.target_success_rate = 0.25;
  fgsm.seconds = 0.02;
  AttackOutcome apgd;
  apgd.plan.kind = AttackKind::apgd;
  apgd.plan.manifest = "adv";
  apgd.plan.norm = ma::Norm::l2;
  apgd.plan.loss = ma::ApgdLoss::dlr;
  apgd.plan.epsilon = 0.5;
  apgd.plan.steps = 50;
  apgd.plan.step_size = 1.0;
  apgd.plan.random_start = true;
  apgd.plan.restarts = 2;
  apgd.plan.active_set = false;
  apgd.robust = {7, 450};
  apgd.last_correct = 9;
  apgd.zero_gradient_fraction = 0.125;
  apgd.seconds = 1.5;
  m.attacks = {fgsm, apgd};
  CorruptionOutcome noise;
  noise.plan.kind = CorruptionKind::gaussian_noise;
  noise.plan.manifest = "rob";
  noise.plan.level = 0.1;
  noise.score = {437, 450};
  noise.seconds = 0.01;
  CorruptionOutcome blur;
  blur.plan.kind = CorruptionKind::gaussian_blur;
  blur.plan.manifest = "rob";
  blur.plan.kernel = 5;
  blur.plan.sigma = 1.5;
  blur.score = {234, 450};
  m.corruptions = {noise, blur};
  FingerprintSummary fp;
  fp.root_sha256 = std::string(64, 'b');
  fp.arch_sha256 = std::string(64, 'c');
  fp.parameter_count = 38282;
  fp.layers = {"conv1", "fc"};
  fp.probes.seed = 7;
  fp.probes.synthetic = 64;
  fp.probes.input_shape = {1, 8, 8};
  m.fingerprint = fp;
  m.findings = {{"robustness/gaussian_blur/kernel=5", Severity::low, Action::warn, "below", 0.52, 0.6, std::nullopt},
                {"adversarial/apgd-dlr-l2/eps=0.5", Severity::critical, Action::block, "far below", 7.0 / 450, 0.5, std::nullopt}};
  r.models = {m};
  r.signature = {{"algorithm", "ed25519"}, {"publicKey", "pk"}, {"value", "sig"}};
  return r;
}

std::string error_of(const nlohmann::ordered_json& j) {
  try {
    job_result_from_json(j, "r.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(JsonReport, ReadingAReportBackGivesTheSameDocument) {
  const auto r = sample_result();
  const auto doc = report_json(r);
  const auto back = job_result_from_json(doc, "r.json");
  EXPECT_EQ(report_json(back).dump(), doc.dump());
  EXPECT_EQ(back.verdict(), Action::block);
  EXPECT_EQ(back.exit_code(), 2);
  EXPECT_EQ(back.models.at(0).attacks.at(0).plan.target, ma::Target::label);
  EXPECT_EQ(back.models.at(0).attacks.at(1).last_correct, 9);
  EXPECT_EQ(back.models.at(0).normalize, r.models.at(0).normalize);
  EXPECT_EQ(back.models.at(0).batch_retries.at(0).to, 64);
  EXPECT_EQ(back.dataset.skipped_files, r.dataset.skipped_files);
  EXPECT_EQ(back.dataset.memory_budget, r.dataset.memory_budget);
  EXPECT_DOUBLE_EQ(back.run_seconds(), 12.5);
}

// Schema version 2's nightly fields: an interrupted, incomplete run with a baseline, skipped
// checks, monitoring figures, permission checks and a job-level finding.
JobResult nightly_result() {
  auto r = sample_result();
  r.complete = false;
  r.interrupted = "SIGTERM";
  BaselineInfo b;
  b.path = "/reports/nightly-20261201T021500Z.json";
  b.sha256 = std::string(64, 'd');
  b.max_drop = 0.05;
  b.compared = 12;
  b.drops = 1;
  b.only_before = {"adversarial/pgd/eps=0.3/steps=10"};
  b.changed_sha256 = {"cnn"};
  r.baseline = b;
  r.permissions = {{"/models/cnn.pt", "", true, 0644, 0600}, {"/keys/k", "perms", false, 0, 0600}};
  r.job_findings = {{"budget/exceeded", Severity::high, Action::review, "ran out", 3, 0, std::nullopt}};
  auto& m = r.models.at(0);
  m.skipped = {{"adversarial", "adversarial/pgd/eps=0.1", "pgd eps=0.1 steps=10", "adv", "SIGTERM"}};
  InferenceFigures inf;
  inf.manifest = "inference";
  inf.batch = {4, 2.5, 2.0, 3.0, 3.5, 3.6};
  inf.single = {100, 0.5, 0.4, 0.9, 1.25, 1.5};
  inf.throughput = 51200;
  inf.batches = 4;
  inf.failed_batches = 1;
  m.inference = inf;
  ResourceFigures res;
  res.manifest = "resources";
  res.peak_rss_bytes = 512 << 20;
  res.memory_total_bytes = int64_t{24} << 30;
  res.cpu_seconds = 3;
  res.wall_seconds = 2;
  res.cores = 2;
  m.resources = res;
  m.findings.push_back({"regression/clean", Severity::high, Action::review, "fell", 0.9, 0.05, 0.98});
  return r;
}

TEST(JsonReport, NightlyFieldsRoundTrip) {
  const auto r = nightly_result();
  const auto doc = report_json(r);
  EXPECT_EQ(doc["schemaVersion"], "2");
  EXPECT_EQ(doc["complete"], false);
  EXPECT_EQ(doc["interrupted"], "SIGTERM");
  EXPECT_EQ(doc["exitCode"], 4);
  EXPECT_EQ(doc["baseline"]["compared"], 12);
  EXPECT_EQ(doc["permissions"][0]["mode"], "0644");
  const auto back = job_result_from_json(doc, "r.json");
  EXPECT_EQ(report_json(back).dump(), doc.dump());
  EXPECT_EQ(back.exit_code(), 4);
  ASSERT_TRUE(back.models.at(0).inference && back.models.at(0).resources);
  EXPECT_DOUBLE_EQ(back.models.at(0).inference->error_rate(), 0.25);
  EXPECT_DOUBLE_EQ(back.models.at(0).resources->cpu_share(), 0.75);
  EXPECT_EQ(back.models.at(0).findings.back().baseline, 0.98);
  EXPECT_FALSE(back.permissions.at(0).ok());
  // The job-level finding comes first in the flat list, without a model.
  EXPECT_TRUE(doc["findings"][0]["model"].is_null());
  EXPECT_EQ(doc["findings"][0]["check"], "budget/exceeded");
}

TEST(JsonReport, AVersionOneReportStillReads) {
  auto doc = report_json(sample_result());
  doc["schemaVersion"] = "1";
  for (const auto* key : {"complete", "interrupted", "baseline", "permissions"}) doc.erase(key);
  const auto back = job_result_from_json(doc, "r.json");
  EXPECT_TRUE(back.complete);
  EXPECT_FALSE(back.interrupted);
  EXPECT_EQ(back.models.size(), 1u);
}

TEST(JsonReport, KeysComeInTheDocumentedOrder) {
  const auto doc = report_json(sample_result());
  std::vector<std::string> keys;
  for (const auto& [k, v] : doc.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"verdict", "exitCode", "complete", "interrupted", "schemaVersion", "tool",
                                            "environment", "job", "device", "seed", "startedAt", "kernels", "dataset",
                                            "baseline", "manifests", "permissions", "warnings", "models", "findings",
                                            "finishedAt", "signature"}));
  EXPECT_EQ(doc["verdict"], "block");
  // The job-level list carries every model's findings with the model's name.
  ASSERT_EQ(doc["findings"].size(), 2u);
  EXPECT_EQ(doc["findings"][1]["model"], "cnn");
  EXPECT_TRUE(doc["models"][0]["adversarial"][0]["loss"].is_null());
  EXPECT_EQ(doc["models"][0]["adversarial"][1]["loss"], "dlr");
  EXPECT_EQ(doc["models"][0]["adversarial"][0]["target"], 3);
}

TEST(JsonReport, ReaderNamesTheFieldItCannotUse) {
  auto j = report_json(sample_result());
  auto bad = j;
  bad["models"][0]["adversarial"][1].erase("epsilon");
  EXPECT_NE(error_of(bad).find("r.json: models[0].adversarial[1].epsilon: missing"), std::string::npos) << error_of(bad);
  bad = j;
  bad["models"][0]["clean"]["correct"] = "many";
  EXPECT_NE(error_of(bad).find("models[0].clean.correct"), std::string::npos) << error_of(bad);
  bad = j;
  bad["schemaVersion"] = "9";
  EXPECT_NE(error_of(bad).find("schemaVersion"), std::string::npos);
  bad = j;
  bad["verdict"] = "pass";  // edited by hand: the findings say block
  EXPECT_NE(error_of(bad).find("verdict"), std::string::npos);
  EXPECT_NE(error_of(nlohmann::ordered_json::array()).find("expected a JSON object"), std::string::npos);
  bad = j;
  bad["tool"]["name"] = "other";
  EXPECT_NE(error_of(bad).find("not a modelgate report"), std::string::npos);
}

TEST(Summary, ReadsTheTypedResult) {
  const auto text = summary_text(sample_result(), {{"report", "/tmp/r.json"}, {"junit", "/tmp/r.xml"}});
  EXPECT_NE(text.find("clean accuracy                                98.44%  (443/450)"), std::string::npos) << text;
  EXPECT_NE(text.find("apgd-dlr-l2 eps=0.5 steps=50 alpha=1 rs x2"), std::string::npos) << text;
  EXPECT_NE(text.find("fgsm   eps=0.1 →3"), std::string::npos) << text;
  EXPECT_NE(text.find("blur   5x5 sigma=1.5"), std::string::npos) << text;
  EXPECT_NE(text.find("[critical → block] adversarial/apgd-dlr-l2/eps=0.5: far below"), std::string::npos) << text;
  EXPECT_NE(text.find("verdict: block (exit 2)\nreport: /tmp/r.json\njunit: /tmp/r.xml\n"), std::string::npos) << text;
}

TEST(Prometheus, EscapesLabelsAndKeepsSeriesDistinct) {
  auto r = sample_result();
  // Two plans at the same attack, ε and steps: told apart by a variant label, not merged.
  auto twin = r.models[0].attacks[1];
  twin.plan.random_start = false;
  twin.robust = {8, 450};
  r.models[0].attacks.push_back(twin);
  const auto text = prometheus_text(r);
  EXPECT_NE(text.find("job=\"nightly \\\"quoted\\\"\""), std::string::npos) << text;
  EXPECT_NE(text.find("variant=\"steps=50 alpha=1 rs x2\""), std::string::npos) << text;
  EXPECT_NE(text.find("variant=\"steps=50 alpha=1 x2\""), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE modelgate_verdict gauge\nmodelgate_verdict{job=\"nightly \\\"quoted\\\"\"} 2\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("modelgate_run_seconds{job=\"nightly \\\"quoted\\\"\"} 12.5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("severity=\"critical\",action=\"block\"} 1\n"), std::string::npos) << text;
}
