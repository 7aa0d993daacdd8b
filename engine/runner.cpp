#include "engine/runner.h"

#include "attacks/apgd.h"
#include "attacks/corruptions.h"
#include "attacks/pgd.h"
#include "engine/dataset.h"
#include "engine/device.h"
#include "engine/errors.h"
#include "engine/evaluator.h"
#include "engine/model.h"
#include "engine/report.h"
#include "fingerprint/fingerprint.h"
#include "kernels/ops.h"

#include <fmt/format.h>

#include <chrono>

namespace modelgate::engine {
namespace {

using Json = nlohmann::ordered_json;

// Component results come as nlohmann::json; the report keeps its own key order.
Json ordered(const nlohmann::json& j) { return Json::parse(j.dump()); }

using Clock = std::chrono::steady_clock;

struct FindingInput {
  std::string check;
  std::optional<double> min_accuracy;
  Severity severity;
  double observed;
  std::string description;
};

Action action_for(const JobConfig& job, Severity s) {
  auto it = job.actions.find(s);
  return it == job.actions.end() ? Action::warn : it->second;
}

// Appends a finding when an accuracy falls below its minimum; returns the action taken.
Action check_threshold(const JobConfig& job, const FindingInput& in, Json& findings) {
  if (!in.min_accuracy || in.observed >= *in.min_accuracy) return Action::pass;
  const Action a = action_for(job, in.severity);
  findings.push_back({{"check", in.check},
                      {"severity", to_string(in.severity)},
                      {"action", to_string(a)},
                      {"message", fmt::format("{} is {:.2f}%, below the minimum {:.2f}%", in.description,
                                              100 * in.observed, 100 * *in.min_accuracy)},
                      {"observed", in.observed},
                      {"threshold", *in.min_accuracy}});
  return a;
}

std::string eps_text(double e) { return fmt::format("{:.4g}", e); }

// Share of samples with all-zero input gradients above which a finding is raised. AutoAttack
// warns on any; a few saturated samples are normal for confident models, a tenth is not.
constexpr double kZeroGradientLimit = 0.05;

// Sanity findings (AutoAttack's checks) are high severity: they put the figures in doubt.
Action add_sanity_finding(const JobConfig& job, Json& findings, const std::string& check, const std::string& message,
                          double observed, double threshold) {
  const Action a = action_for(job, Severity::high);
  findings.push_back({{"check", check}, {"severity", to_string(Severity::high)}, {"action", to_string(a)},
                      {"message", message}, {"observed", observed}, {"threshold", threshold}});
  return a;
}

// Softmax outputs (rows of non-negative values summing to 1) instead of logits: cross-entropy
// on probabilities has vanishing gradients, so attacks look weaker than they are.
bool looks_like_probabilities(const at::Tensor& logits) {
  if (logits.size(1) < 2) return false;
  const auto v = logits.to(at::kDouble);
  return v.min().item<double>() >= 0 && (v.sum(1) - 1).abs().max().item<double>() < 1e-4;
}

}  // namespace

RunResult run_job(const JobConfig& job, const RunOptions& options) {
  const auto started = utc_now_iso();
  const c10::Device device = resolve_device(options.device.value_or(job.device));
  const uint64_t seed = options.seed.value_or(job.seed);

  // Everything the user gave us is loaded and cross-checked before any evaluation, so that
  // a bad file fails fast with exit 3.
  const Dataset data = load_dataset(job.dataset);
  std::vector<LoadedModel> models;
  std::vector<bool> probability_outputs;
  for (const auto& entry : job.models) {
    auto m = load_model(entry.path, device);
    const auto probe = data.inputs.narrow(0, 0, std::min<int64_t>(2, data.size())).to(device);
    at::Tensor logits;
    {
      at::NoGradGuard no_grad;
      logits = forward_logits(m.module, probe, m.path.string());
    }
    if (!at::isfinite(logits).all().item<bool>())
      throw RunError(fmt::format("{}: produced NaN or infinite logits on the first samples of {}",
                                 m.path.string(), data.path.string()));
    check_labels(data, logits.size(1), m.path.string());
    for (const auto& a : job.attacks)
      if (a.target == "label" && a.target_label >= logits.size(1))
        throw InputError(fmt::format("{}: attack target class {} is outside the {} classes of {}", job.file.string(),
                                     a.target_label, logits.size(1), m.path.string()));
    probability_outputs.push_back(looks_like_probabilities(logits));
    models.push_back(std::move(m));
  }

  Json report;
  report["verdict"] = nullptr;  // filled in last; listed first for readers
  report["exitCode"] = nullptr;
  report["schemaVersion"] = "1";
  report["tool"] = {{"name", "modelgate"}, {"version", MODELGATE_VERSION}};
  report["environment"] = ordered(environment());
  report["job"] = {{"name", job.name}, {"path", std::filesystem::absolute(job.file).string()}};
  report["device"] = device.str();
  report["seed"] = seed;
  report["startedAt"] = started;
  Json backends;
  for (const auto& op : kernels::operator_names()) backends[op] = kernels::backend_for(op, device.type());
  report["kernels"] = {{"cudaCompiled", kernels::cuda_kernels_compiled()}, {"backends", backends}};
  report["dataset"] = {{"path", data.path.string()}, {"samples", data.size()},
                       {"inputShape", data.inputs.sizes().slice(1).vec()}, {"batchSize", job.batch_size}};
  auto manifests = Json::array();
  for (const auto& m : job.manifests) manifests.push_back({{"kind", m.kind}, {"name", m.name}, {"handled", m.handled}});
  report["manifests"] = manifests;
  report["warnings"] = job.warnings;

  Action worst = Action::pass;
  std::string records;
  auto model_reports = Json::array();
  auto all_findings = Json::array();  // every model's, tagged: what a gate reads first
  for (size_t mi = 0; mi < models.size(); ++mi) {
    auto& model = models[mi];
    const auto& name = job.models[mi].name;
    ModelEvaluator eval(model, data, device, job.batch_size, options);
    Json mr{{"name", name}, {"path", model.path.string()}, {"sha256", model.sha256}};
    auto findings = Json::array();
    auto note = [&](const std::string& what, const std::string& result) {
      options.progress(fmt::format("{}  {:<34} {}", name, what, result));
    };

    const auto identity = [](const at::Tensor& x, const at::Tensor&, int64_t) { return x; };
    const Score clean = eval.score("clean evaluation", identity);
    mr["clean"] = {{"correct", clean.correct}, {"total", clean.total}, {"accuracy", clean.accuracy()}};
    if (probability_outputs[mi])
      worst = std::max(worst, add_sanity_finding(job, findings, "sanity/probability-outputs",
                                                 "the model's outputs are non-negative and sum to 1: it returns "
                                                 "probabilities, not logits, so gradient attacks are weakened and "
                                                 "robust accuracy is overestimated",
                                                 1.0, 0.0));
    note("clean", fmt::format("accuracy {:6.2f}%  ({}/{})", 100 * clean.accuracy(), clean.correct, clean.total));

    auto adversarial = Json::array();
    for (const auto& a : job.attacks) {
      for (double eps : a.epsilons) {
        const bool is_fgsm = a.type == "fgsm", is_apgd = a.type == "apgd";
        const auto norm = a.norm == "l2" ? attacks::Norm::l2 : attacks::Norm::linf;
        attacks::PgdOptions opts = is_fgsm ? attacks::fgsm_options(norm, eps) : attacks::PgdOptions{};
        if (!is_fgsm) {
          opts.norm = norm;
          opts.epsilon = eps;
          opts.steps = a.steps;
          opts.step_size = a.step_size.value_or(-1);
          opts.random_start = a.random_start;
          opts.restarts = a.restarts;
        }
        opts.seed = seed;
        opts.active_set = a.active_set;
        opts.target = a.target == "leastLikely" ? attacks::Target::least_likely
                      : a.target == "random"    ? attacks::Target::random
                      : a.target == "label"     ? attacks::Target::label
                                                : attacks::Target::none;
        opts.target_label = a.target_label;
        attacks::ApgdOptions apgd;
        apgd.norm = norm;
        apgd.active_set = a.active_set;
        apgd.epsilon = eps;
        apgd.steps = a.steps;
        apgd.loss = a.loss == "dlr" ? attacks::ApgdLoss::dlr : attacks::ApgdLoss::ce;
        apgd.restarts = a.restarts;
        apgd.random_start = a.random_start;
        apgd.seed = seed;
        const auto label = fmt::format("{}{}",
                                       is_apgd   ? "apgd-" + a.loss
                                       : is_fgsm ? (norm == attacks::Norm::l2 ? "fgm" : "fgsm")
                                                 : "pgd",
                                       norm == attacks::Norm::l2 ? "-l2" : "");
        const auto what = is_fgsm ? fmt::format("{} eps={}", label, eps_text(eps))
                                  : fmt::format("{} eps={} steps={}{}", label, eps_text(eps), a.steps,
                                                a.restarts > 1 ? fmt::format(" restarts={}", a.restarts) : "");
        const RecordContext ctx{name, label, eps};
        const AttackFn run = [&](const at::Tensor& x, const at::Tensor& y, int64_t first) {
          return is_apgd ? attacks::run_apgd(eval.fn(), x, y, apgd, first) : attacks::run_pgd(eval.fn(), x, y, opts, first);
        };
        const AttackScore s = eval.attack(what, run, options.records ? &ctx : nullptr);
        if (options.records) records += s.records;
        Json target = nullptr;
        if (a.target == "label") target = a.target_label;
        else if (a.target != "none") target = a.target;
        Json entry{{"attack", a.type}, {"manifest", a.manifest}, {"norm", a.norm}, {"loss", is_apgd ? Json(a.loss) : Json()},
                   {"epsilon", eps}, {"steps", opts.steps},
                   {"stepSize", is_apgd ? 2 * eps : attacks::pgd_step_size(opts)},
                   {"randomStart", opts.random_start}, {"restarts", opts.restarts}, {"target", target},
                   {"activeSet", opts.active_set}, {"correct", s.correct}, {"total", s.total},
                   {"robustAccuracy", s.accuracy()},
                   {"lastIterateCorrect", s.has_last ? Json(s.last_correct) : Json()},
                   {"targetSuccessRate", a.target != "none" && s.total ? Json(double(s.target_hits) / s.total) : Json()},
                   {"zeroGradientFraction", s.zero_grad_fraction}, {"seconds", s.seconds}};
        adversarial.push_back(entry);
        note(what, fmt::format("robust   {:6.2f}%  ({}/{})  {:.2f}s", 100 * s.accuracy(), s.correct, s.total, s.seconds));
        worst = std::max(worst, check_threshold(job, {fmt::format("adversarial/{}/eps={}", label, eps_text(eps)),
                                                      a.min_accuracy, a.severity, s.accuracy(),
                                                      fmt::format("robust accuracy under {}", what)}, findings));
        // AutoAttack's sanity check: zero input gradients make any gradient attack look weak.
        if (s.zero_grad_fraction > kZeroGradientLimit)
          worst = std::max(worst, add_sanity_finding(job, findings, fmt::format("sanity/zero-gradients/{}/eps={}", label, eps_text(eps)),
                                                     fmt::format("{:.1f}% of samples had all-zero input gradients under {}: "
                                                                 "the robust accuracy may be overestimated (gradient masking)",
                                                                 100 * s.zero_grad_fraction, what),
                                                     s.zero_grad_fraction, kZeroGradientLimit));
      }
    }
    mr["adversarial"] = adversarial;

    auto robustness = Json::array();
    for (const auto& c : job.corruptions) {
      if (c.type == "noise") {
        for (double level : c.levels) {
          const auto what = fmt::format("noise level={}", eps_text(level));
          const Score s = eval.score(what, [&](const at::Tensor& x, const at::Tensor&, int64_t first) {
            return attacks::gaussian_noise(x, level, seed, first);
          });
          robustness.push_back({{"corruption", "gaussian_noise"}, {"manifest", c.manifest}, {"level", level},
                                {"correct", s.correct}, {"total", s.total}, {"accuracy", s.accuracy()},
                                {"seconds", s.seconds}});
          note(what, fmt::format("accuracy {:6.2f}%  ({}/{})  {:.2f}s", 100 * s.accuracy(), s.correct, s.total, s.seconds));
          worst = std::max(worst, check_threshold(job, {fmt::format("robustness/gaussian_noise/level={}", eps_text(level)),
                                                        c.min_accuracy, c.severity, s.accuracy(),
                                                        fmt::format("accuracy under {}", what)}, findings));
        }
      } else {
        const double sigma = c.sigma > 0 ? c.sigma : kernels::default_blur_sigma(c.kernel);
        const auto what = fmt::format("blur {}x{} sigma={:.3g}", c.kernel, c.kernel, sigma);
        const Score s = eval.score(what, [&](const at::Tensor& x, const at::Tensor&, int64_t) {
          return attacks::gaussian_blur(x, c.kernel, sigma);
        });
        robustness.push_back({{"corruption", "gaussian_blur"}, {"manifest", c.manifest}, {"kernel", c.kernel},
                              {"sigma", sigma}, {"correct", s.correct}, {"total", s.total},
                              {"accuracy", s.accuracy()}, {"seconds", s.seconds}});
        note(what, fmt::format("accuracy {:6.2f}%  ({}/{})  {:.2f}s", 100 * s.accuracy(), s.correct, s.total, s.seconds));
        worst = std::max(worst, check_threshold(job, {fmt::format("robustness/gaussian_blur/kernel={}", c.kernel),
                                                      c.min_accuracy, c.severity, s.accuracy(),
                                                      fmt::format("accuracy under {}", what)}, findings));
      }
    }
    mr["robustness"] = robustness;

    {  // Always taken: it is cheap, and it ties the figures above to exact weights.
      fingerprint::ProbeSpec spec;
      spec.seed = seed;
      spec.synthetic = job.fingerprint_probes;
      spec.input_shape = data.inputs.sizes().slice(1).vec();
      const auto t0 = Clock::now();
      spec.boundary.count = 0;  // boundary probes are for `modelgate fingerprint`, not the nightly summary
      auto fp = fingerprint::compute(model.module, fingerprint::synthetic_probes(spec).to(device), spec,
                                     fingerprint::default_layers(model.module));
      fp.model_sha256 = model.sha256;
      mr["fingerprint"] = ordered(fingerprint::summary_json(fp));
      note("fingerprint", fmt::format("root {}…  arch {}…  {:.2f}s", fp.root_sha256.substr(0, 12),
                                      fp.arch_sha256.substr(0, 12),
                                      std::chrono::duration<double>(Clock::now() - t0).count()));
    }
    for (auto f : findings) {
      f["model"] = name;
      all_findings.push_back(std::move(f));
    }
    mr["findings"] = std::move(findings);
    model_reports.push_back(mr);
  }
  report["models"] = model_reports;
  report["findings"] = all_findings;

  RunResult result;
  result.records = std::move(records);
  result.exit_code = worst == Action::block ? kBlock : worst == Action::review ? kReview : kPass;
  report["verdict"] = worst == Action::block ? "block" : worst == Action::review ? "review" : "pass";
  report["exitCode"] = result.exit_code;
  report["finishedAt"] = utc_now_iso();
  result.report = std::move(report);
  return result;
}

}  // namespace modelgate::engine
