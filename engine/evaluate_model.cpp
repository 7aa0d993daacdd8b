#include "engine/evaluate_model.h"

#include "attacks/apgd.h"
#include "attacks/corruptions.h"
#include "attacks/pgd.h"
#include "engine/evaluator.h"
#include "fingerprint/fingerprint.h"

#include <fmt/format.h>

#include <chrono>

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
  const Score s = eval.score(plan.description(), [&](const at::Tensor& x, const at::Tensor&, int64_t first) {
    return plan.kind == CorruptionKind::gaussian_noise ? attacks::gaussian_noise(x, plan.level, seed, first)
                                                       : attacks::gaussian_blur(x, plan.kernel, plan.sigma);
  });
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

}  // namespace

ModelResult evaluate_model(const JobConfig& job, const std::string& name, LoadedModel& model, const Dataset& data,
                           const EvaluationContext& ctx) {
  ModelEvaluator eval(model, data, ctx.device, job.batch_size, ctx.progress);
  auto note = [&](const std::string& what, const std::string& result) {
    ctx.progress(fmt::format("{}  {:<34} {}", name, what, result));
  };
  ModelResult r;
  r.name = name;
  r.path = model.path.string();
  r.sha256 = model.sha256;

  const Score clean = eval.score("clean evaluation", [](const at::Tensor& x, const at::Tensor&, int64_t) { return x; });
  r.clean = {clean.correct, clean.total};
  note("clean", "accuracy " + percent(r.clean));

  for (const auto& plan : job.attacks) {
    r.attacks.push_back(run_attack(eval, plan, name, ctx));
    const auto& a = r.attacks.back();
    note(plan.description(), fmt::format("robust   {}  {:.2f}s", percent(a.robust), a.seconds));
  }
  for (const auto& plan : job.corruptions) {
    r.corruptions.push_back(run_corruption(eval, plan, ctx.seed));
    const auto& c = r.corruptions.back();
    note(plan.description(), fmt::format("accuracy {}  {:.2f}s", percent(c.score), c.seconds));
  }

  // Always taken: it is cheap, and it ties the figures above to exact weights. Boundary probes
  // are for `modelgate fingerprint`, not the nightly summary.
  fingerprint::ProbeSpec spec;
  spec.seed = ctx.seed;
  spec.synthetic = job.fingerprint_probes;
  spec.input_shape = data.inputs.sizes().slice(1).vec();
  spec.boundary.count = 0;
  const auto t0 = Clock::now();
  const auto fp = fingerprint::compute(model.module, fingerprint::synthetic_probes(spec).to(ctx.device), spec,
                                       fingerprint::default_layers(model.module));
  r.fingerprint = summarise(fp);
  note("fingerprint", fmt::format("root {}…  arch {}…  {:.2f}s", fp.root_sha256.substr(0, 12), fp.arch_sha256.substr(0, 12),
                                  std::chrono::duration<double>(Clock::now() - t0).count()));
  return r;
}

}  // namespace modelgate::engine
