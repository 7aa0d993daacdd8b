// The corruption benchmark's summary (Hendrycks and Dietterich's CE, relative CE, mCE and mean
// error), figured by hand for a small case, and its round trip through the JSON report.
#include "engine/benchmark_summary.h"
#include "engine/report/json_report.h"

#include <gtest/gtest.h>

using namespace modelgate::engine;

namespace {

CorruptionOutcome entry(const std::string& name, int64_t severity, int64_t correct, int64_t total = 100,
                        CorruptionKind kind = CorruptionKind::benchmark) {
  CorruptionOutcome c;
  c.plan.kind = kind;
  c.plan.name = name;
  c.plan.corruption_severity = severity;
  if (kind == CorruptionKind::benchmark) c.plan.table = modelgate::corruptions::Table::cifar;
  c.score = {correct, total};
  return c;
}

ModelResult model(const std::string& name, int64_t clean_correct, std::vector<CorruptionOutcome> corruptions) {
  ModelResult m;
  m.name = name;
  m.clean = {clean_correct, 100};
  m.corruptions = std::move(corruptions);
  return m;
}

}  // namespace

TEST(BenchmarkSummary, CeRelativeCeAndTheirMeansByHand) {
  // Model: clean error 0.10; contrast errors 0.2, 0.4 (severities 1, 2); fog (stored file) 0.5 at 3;
  // speckle_noise (held out) 0.3. Baseline: clean error 0.20; contrast 0.4, 0.6; fog 0.5 at 3.
  const auto m = model("m", 90, {entry("contrast", 1, 80), entry("contrast", 2, 60),
                                 entry("fog", 3, 50, 100, CorruptionKind::stored), entry("speckle_noise", 1, 70),
                                 entry("noise-not-benchmark", 1, 10, 100, CorruptionKind::stored)});
  const auto base = model("base", 80, {entry("contrast", 1, 60), entry("contrast", 2, 40), entry("fog", 3, 50)});
  const auto s = summarise_benchmark(m, &base, "model base");
  ASSERT_TRUE(s);
  ASSERT_EQ(s->rows.size(), 3u);  // the benchmark's order: fog, contrast, speckle_noise
  EXPECT_EQ(s->rows[0].name, "fog");
  EXPECT_EQ(s->rows[1].name, "contrast");
  EXPECT_EQ(s->rows[2].name, "speckle_noise");
  EXPECT_FALSE(s->rows[2].in_mean);
  // contrast: CE = (0.2 + 0.4) / (0.4 + 0.6) = 0.6; relative: (0.1 + 0.3) / (0.2 + 0.4) = 2/3
  EXPECT_NEAR(*s->rows[1].ce, 0.6, 1e-12);
  EXPECT_NEAR(*s->rows[1].relative_ce, 2.0 / 3.0, 1e-12);
  // fog: CE = 0.5 / 0.5 = 1; relative: 0.4 / 0.3
  EXPECT_NEAR(*s->rows[0].ce, 1.0, 1e-12);
  EXPECT_NEAR(*s->rows[0].relative_ce, 0.4 / 0.3, 1e-12);
  EXPECT_FALSE(s->rows[2].ce);  // the baseline has no speckle_noise
  EXPECT_NEAR(*s->mce, 0.8, 1e-12);
  EXPECT_NEAR(*s->relative_mce, (2.0 / 3.0 + 0.4 / 0.3) / 2, 1e-12);
  EXPECT_NEAR(*s->mean_error, (0.2 + 0.4 + 0.5) / 3, 1e-12);  // the 15's entries only
  EXPECT_FALSE(s->complete);
  EXPECT_EQ(s->baseline, "model base");
}

TEST(BenchmarkSummary, WithoutABaselineOnlyTheMeanError) {
  const auto s = summarise_benchmark(model("m", 90, {entry("contrast", 1, 80)}), nullptr, "");
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->mce);
  EXPECT_FALSE(s->rows[0].ce);
  EXPECT_NEAR(*s->mean_error, 0.2, 1e-12);
  EXPECT_TRUE(s->baseline.empty());
  EXPECT_FALSE(summarise_benchmark(model("m", 90, {}), nullptr, ""));
}

TEST(BenchmarkSummary, CompleteWithAllFifteenAtFiveSeverities) {
  std::vector<CorruptionOutcome> all;
  for (auto c : modelgate::corruptions::all_corruptions())
    for (int64_t s = 1; s <= 5; ++s) all.push_back(entry(std::string(modelgate::corruptions::to_string(c)), s, 50));
  auto m = model("m", 90, all);
  EXPECT_TRUE(summarise_benchmark(m, &m, "model m")->complete);
  EXPECT_NEAR(*summarise_benchmark(m, &m, "model m")->mce, 1.0, 1e-12);
  m.corruptions.pop_back();  // saturate 5 is held out: still complete
  EXPECT_TRUE(summarise_benchmark(m, nullptr, "")->complete);
  m.corruptions.erase(m.corruptions.begin());  // gaussian_noise 1
  EXPECT_FALSE(summarise_benchmark(m, nullptr, "")->complete);
}

TEST(BenchmarkSummary, RoundTripsThroughTheJsonReport) {
  JobResult r;
  r.job_name = "j";
  r.tool_version = "t";
  r.dataset.batch_size = 8;
  auto m = model("m", 90, {entry("contrast", 1, 80), entry("contrast", 2, 60)});
  const auto base = model("base", 80, {entry("contrast", 1, 60), entry("contrast", 2, 40)});
  m.benchmark = summarise_benchmark(m, &base, "model base");
  r.models = {m};
  const auto doc = report_json(r);
  ASSERT_TRUE(doc["models"][0].contains("corruptionBenchmark"));
  EXPECT_NEAR(doc["models"][0]["corruptionBenchmark"]["mce"].get<double>(), 0.6, 1e-12);
  const auto back = job_result_from_json(doc, "r.json");
  EXPECT_EQ(report_json(back).dump(), doc.dump());
  EXPECT_EQ(back.models[0].corruptions[0].plan.table, modelgate::corruptions::Table::cifar);
}
