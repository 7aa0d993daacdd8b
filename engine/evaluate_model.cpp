#include "engine/evaluate_model.h"

#include "attacks/apgd.h"
#include "attacks/corruptions.h"
#include "attacks/pgd.h"
#include "corruptions/benchmark.h"
#include "engine/evaluator.h"
#include "engine/monitoring.h"
#include "fingerprint/fingerprint.h"

#include <fmt/format.h>

#include <chrono>
#include <functional>
#include <optional>

namespace modelgate::engine {
namespace {

using Clock = std::chrono::steady_clock;

// The options run_pgd takes (fgsm, pgd) and run_apgd takes (apgd), with this run's seed.
attacks::PgdOptions pgd_options(const AttackPlan& p, uint64_t seed) {
  attacks::PgdOptions o = p.kind == AttackKind::fgsm ? attacks::fgsm_options(p.norm, p.epsilon) : attacks::PgdOptions{};
  if (p.kind != AttackKind::fgsm) {
    o.norm = p.norm;
    o.epsilon = p.epsilon;
    o.steps = p.steps;
    o.step_size = p.step_size;
    o.random_start = p.random_start;
    o.restarts = p.restarts;
  }
  o.seed = seed;
  o.active_set = p.active_set;
  o.target = p.target;
  o.target_label = p.target_label;
  return o;
}

attacks::ApgdOptions apgd_options(const AttackPlan& p, uint64_t seed) {
  attacks::ApgdOptions o;
  o.norm = p.norm;
  o.epsilon = p.epsilon;
  o.steps = p.steps;
  o.loss = p.loss;
  o.restarts = p.restarts;
  o.random_start = p.random_start;
  o.seed = seed;
  o.active_set = p.active_set;
  return o;
}

AttackOutcome run_attack(ModelEvaluator& eval, const AttackPlan& plan, const std::string& model_name,
                         const EvaluationContext& ctx) {
  const auto pgd = pgd_options(plan, ctx.seed);
  const auto apgd = apgd_options(plan, ctx.seed);
  const AttackFn run = [&](const at::Tensor& x, const at::Tensor& y, int64_t first) {
    return plan.kind == AttackKind::apgd ? attacks::run_apgd(eval.fn(), x, y, apgd, first)
                                         : attacks::run_pgd(eval.fn(), x, y, pgd, first);
  };
  const RecordContext records{model_name, plan.name(), plan.epsilon};
  const AttackScore s = eval.attack(plan.description(), run, ctx.records ? &records : nullptr);
  if (ctx.records) *ctx.records += s.records;
  AttackOutcome out;
  out.plan = plan;
  out.robust = {s.correct, s.total};
  if (s.has_last) out.last_correct = s.last_correct;
  if (plan.target != attacks::Target::none && s.total)
    out.target_success_rate = static_cast<double>(s.target_hits) / static_cast<double>(s.total);
  out.zero_gradient_fraction = s.zero_grad_fraction;
  out.seconds = s.seconds;
  return out;
}

CorruptionOutcome run_corruption(ModelEvaluator& eval, const CorruptionPlan& plan, uint64_t seed) {
  auto settled = plan;  // a benchmark corruption's table, settled by the image size unless the job sets it
  const Score s = eval.score(plan.description(), [&](const at::Tensor& x, const at::Tensor&, int64_t first) {
    switch (plan.kind) {
      case CorruptionKind::gaussian_noise: return attacks::gaussian_noise(x, plan.level, seed, first);
      case CorruptionKind::gaussian_blur: return attacks::gaussian_blur(x, plan.kernel, plan.sigma);
      default: break;
    }
    if (!settled.table) settled.table = corruptions::table_for(x.size(2), x.size(3));
    return corruptions::corrupt(x, *corruptions::corruption_from(plan.name), static_cast<int>(plan.corruption_severity),
                                *settled.table, seed, first);
  });
  return {settled, {s.correct, s.total}, s.seconds};
}

// A stored corruption: its block of the corrupted-npy folder, read as the clean set is (the same
// limit and sample), scored as it is.
CorruptionOutcome run_stored(ModelEvaluator& eval, const CorruptionPlan& plan, const data::DatasetSpec& spec) {
  auto one = spec;
  one.block = data::CorruptedBlock{plan.name, plan.corruption_severity};
  const Dataset block = open_dataset(one);
  const Score s = eval.score(plan.description(), [](const at::Tensor& x, const at::Tensor&, int64_t) { return x; }, false, &block);
  return {plan, {s.correct, s.total}, s.seconds};
}

FingerprintSummary summarise(const fingerprint::Fingerprint& fp) {
  FingerprintSummary s;
  s.root_sha256 = fp.root_sha256;
  s.arch_sha256 = fp.arch_sha256;
  s.parameter_count = fp.parameter_count;
  for (const auto& l : fp.layers) s.layers.push_back(l.name);
  s.probes = fp.probes;
  s.probes.boundary.sha256 = fingerprint::boundary_sha256(fp.probes.boundary);
  s.probes.boundary.inputs.clear();
  s.probes.boundary.labels.clear();
  s.probes.boundary.sources.clear();
  return s;
}

std::string percent(const Count& c) {
  return fmt::format("{:6.2f}%  ({}/{})", 100 * c.accuracy(), c.correct, c.total);
}

// The ModelFingerprinting manifest's name (the fingerprint's budget), or the job's.
std::string fingerprint_manifest(const JobConfig& job) {
  for (const auto& m : job.manifests)
    if (m.kind == "ModelFingerprinting") return m.name;
  return "";
}

}  // namespace

std::vector<SkippedCheck> all_checks_skipped(const JobConfig& job, const std::string& reason) {
  std::vector<SkippedCheck> out{{"clean", "clean", "clean evaluation", "", reason}};
  for (const auto& p : job.attacks) out.push_back({"adversarial", p.check(), p.description(), p.manifest, reason});
  for (const auto& p : job.corruptions) out.push_back({"robustness", p.check(), p.description(), p.manifest, reason});
  out.push_back({"fingerprint", "fingerprint", "fingerprint", fingerprint_manifest(job), reason});
  if (job.inference) out.push_back({"monitoring", "monitoring/inference", "batch-1 latency", job.inference->manifest, reason});
  return out;
}

ModelResult evaluate_model(const JobConfig& job, const std::string& name, LoadedModel& model, const Dataset& data,
                           const EvaluationContext& ctx) {
  const int64_t batch_size = ctx.batch_size > 0 ? ctx.batch_size : job.batch_size;
  ModelEvaluator eval(model, data, ctx.device, batch_size, ctx.progress);
  auto note = [&](const std::string& what, const std::string& result) {
    ctx.progress(fmt::format("{}  {:<34} {}", name, what, result));
  };
  ModelResult r;
  r.name = name;
  r.path = model.path.string();
  r.sha256 = model.sha256;
  r.batch_size = batch_size;
  if (job.batch_auto) note("batch size", fmt::format("{} (batchSize: auto)", batch_size));
  std::optional<ResourceMeter> meter;
  if (job.resources) meter.emplace(ctx.device);

  // Runs one check unless the budgets or a signal say otherwise; a check stopped part-way at a
  // batch boundary is skipped as a whole (a partial figure would read as a real one).
  auto run = [&](const SkippedCheck& check, const std::function<void()>& body) {
    if (ctx.stop) {
      if (const auto why = ctx.stop->reason(check.manifest)) {
        r.skipped.push_back(check);
        r.skipped.back().reason = *why;
        return false;
      }
      eval.set_stop_check([&](double running) {
        if (const auto why = ctx.stop->reason(check.manifest, running)) throw StopRequested(*why);
      });
    }
    const auto t0 = Clock::now();
    bool done = true;
    try {
      body();
    } catch (const StopRequested& e) {
      r.skipped.push_back(check);
      r.skipped.back().reason = fmt::format("{} (stopped part-way)", e.what());
      note(check.description, "stopped: " + std::string(e.what()));
      done = false;
    }
    if (ctx.stop) ctx.stop->charge(check.manifest, std::chrono::duration<double>(Clock::now() - t0).count());
    eval.set_stop_check({});
    return done;
  };

  // With InferenceMonitoring a batch that fails counts towards the error rate instead of
  // ending the run: the error rate is what that manifest asks for.
  const bool monitored = job.inference.has_value();
  // A corrupted-npy folder without spec.dataset.clean has no clean samples: the clean figure is
  // 0 of 0 (renderers say "no clean samples"), which is what the job asked for, not a check skipped.
  Score clean;
  if (!data.has_clean_samples) note("clean", "no clean samples (spec.dataset.clean is not set)");
  else
    run({"clean", "clean", "clean evaluation", "", ""}, [&] {
      clean = eval.score("clean evaluation", [](const at::Tensor& x, const at::Tensor&, int64_t) { return x; }, monitored);
      r.clean = {clean.correct, clean.total};
      note("clean", "accuracy " + percent(r.clean));
    });

  for (const auto& plan : job.attacks)
    run({"adversarial", plan.check(), plan.description(), plan.manifest, ""}, [&] {
      r.attacks.push_back(run_attack(eval, plan, name, ctx));
      const auto& a = r.attacks.back();
      note(plan.description(), fmt::format("robust   {}  {:.2f}s", percent(a.robust), a.seconds));
    });
  for (const auto& plan : job.corruptions)
    run({"robustness", plan.check(), plan.description(), plan.manifest, ""}, [&] {
      r.corruptions.push_back(plan.kind == CorruptionKind::stored ? run_stored(eval, plan, job.dataset)
                                                                  : run_corruption(eval, plan, ctx.seed));
      const auto& c = r.corruptions.back();
      note(plan.description(), fmt::format("accuracy {}  {:.2f}s", percent(c.score), c.seconds));
    });

  // Always taken: it is cheap, and it ties the figures above to exact weights. Boundary probes
  // are for `modelgate fingerprint`, not the nightly summary.
  run({"fingerprint", "fingerprint", "fingerprint", fingerprint_manifest(job), ""}, [&] {
    fingerprint::ProbeSpec spec;
    spec.seed = ctx.seed;
    spec.synthetic = job.fingerprint_probes;
    spec.input_shape = data.sample_shape();
    spec.boundary.count = 0;
    const auto t0 = Clock::now();
    const auto fp = fingerprint::compute(model.module, model_input(model, fingerprint::synthetic_probes(spec).to(ctx.device)), spec,
                                         fingerprint::default_layers(model.module));
    r.fingerprint = summarise(fp);
    note("fingerprint", fmt::format("root {}…  arch {}…  {:.2f}s", fp.root_sha256.substr(0, 12),
                                    fp.arch_sha256.substr(0, 12),
                                    std::chrono::duration<double>(Clock::now() - t0).count()));
  });

  if (job.inference && !clean.forward_ms.empty())
    run({"monitoring", "monitoring/inference", "batch-1 latency", job.inference->manifest, ""}, [&] {
      InferenceFigures f;
      f.manifest = job.inference->manifest;
      f.batch = latency_stats(clean.forward_ms);
      f.throughput = clean.seconds > 0 ? static_cast<double>(clean.total) / clean.seconds : 0.0;
      int64_t single_failed = 0;
      f.single = latency_stats(eval.single_sample_latencies(job.inference->samples, single_failed));
      f.batches = static_cast<int64_t>(clean.forward_ms.size()) + f.single.count;
      f.failed_batches = clean.failed_batches + single_failed;
      r.inference = f;
      note("inference", fmt::format("batch-1 p50 {:.2f} ms  p99 {:.2f} ms  {:.0f} samples/s  errors {}/{}", f.single.p50_ms,
                                    f.single.p99_ms, f.throughput, f.failed_batches, f.batches));
    });
  if (meter) {
    r.resources = meter->finish(job.resources->manifest);
    const auto& m = *r.resources;
    note("resources", fmt::format("peak RSS {:.0f} MiB ({:.1f}%)  CPU {:.0f}% of {} cores", m.peak_rss_bytes / 1048576.0,
                                  100 * m.memory_share(), 100 * m.cpu_share(), m.cores));
  }
  r.batch_retries = eval.batch_retries();
  return r;
}

}  // namespace modelgate::engine
