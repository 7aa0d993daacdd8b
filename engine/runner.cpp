#include "engine/runner.h"

#include "attacks/corruptions.h"
#include "attacks/fgsm.h"
#include "attacks/pgd.h"
#include "engine/dataset.h"
#include "engine/device.h"
#include "engine/errors.h"
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
// Transforms a batch (inputs, labels, dataset index of the first sample) before scoring.
using BatchTransform = std::function<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t)>;

struct Score {
  int64_t correct = 0;
  int64_t total = 0;
  double seconds = 0;
  double accuracy() const { return total ? static_cast<double>(correct) / total : 0.0; }
};

class ModelEvaluator {
 public:
  ModelEvaluator(LoadedModel& model, const Dataset& data, c10::Device device, int64_t batch_size,
                 const RunOptions& options)
      : model_(model), data_(data), device_(device), batch_size_(batch_size), options_(options) {
    fn_ = [this](const at::Tensor& x) { return model_.module.forward({x}).toTensor(); };
  }

  const attacks::ModelFn& fn() const { return fn_; }

  // Scores the model on transform(batch) for every batch; `what` names the evaluation in
  // progress lines and errors.
  Score score(const std::string& what, const BatchTransform& transform) {
    Score s;
    const auto start = Clock::now();
    auto last_note = start;
    const int64_t n = data_.size();
    const int64_t batches = (n + batch_size_ - 1) / batch_size_;
    for (int64_t b = 0; b < batches; ++b) {
      const int64_t first = b * batch_size_;
      const int64_t len = std::min(batch_size_, n - first);
      auto x = data_.inputs.narrow(0, first, len).to(device_);
      auto y = data_.labels.narrow(0, first, len).to(device_);
      at::Tensor input;
      try {
        input = transform(x, y, first);
      } catch (const std::invalid_argument&) {
        throw;
      } catch (const std::exception& e) {
        throw RunError(fmt::format("{}: {} failed on samples {}..{}: {}", model_.path.string(), what,
                                   first, first + len - 1, one_line(e)));
      }
      at::Tensor logits;
      {
        at::NoGradGuard no_grad;
        logits = fn_(input);
      }
      if (!at::isfinite(logits).all().item<bool>())
        throw RunError(fmt::format("{}: produced NaN or infinite logits during {} (samples {}..{})",
                                   model_.path.string(), what, first, first + len - 1));
      s.correct += logits.argmax(1).eq(y).sum().item<int64_t>();
      s.total += len;
      const auto now = Clock::now();
      if (now - last_note > std::chrono::seconds(5) && b + 1 < batches) {
        options_.progress(fmt::format("  … {}: batch {}/{}", what, b + 1, batches));
        last_note = now;
      }
    }
    s.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return s;
  }

 private:
  LoadedModel& model_;
  const Dataset& data_;
  c10::Device device_;
  int64_t batch_size_;
  const RunOptions& options_;
  attacks::ModelFn fn_;
};

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

}  // namespace

RunResult run_job(const JobConfig& job, const RunOptions& options) {
  const auto started = utc_now_iso();
  const c10::Device device = resolve_device(options.device.value_or(job.device));
  const uint64_t seed = options.seed.value_or(job.seed);

  // Everything the user gave us is loaded and cross-checked before any evaluation, so that
  // a bad file fails fast with exit 3.
  const Dataset data = load_dataset(job.dataset);
  std::vector<LoadedModel> models;
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
  report["dataset"] = {{"path", data.path.string()}, {"samples", data.size()},
                       {"inputShape", data.inputs.sizes().slice(1).vec()}, {"batchSize", job.batch_size}};
  auto manifests = Json::array();
  for (const auto& m : job.manifests) manifests.push_back({{"kind", m.kind}, {"name", m.name}, {"handled", m.handled}});
  report["manifests"] = manifests;
  report["warnings"] = job.warnings;

  Action worst = Action::pass;
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
    note("clean", fmt::format("accuracy {:6.2f}%  ({}/{})", 100 * clean.accuracy(), clean.correct, clean.total));

    auto adversarial = Json::array();
    for (const auto& a : job.attacks) {
      for (double eps : a.epsilons) {
        attacks::PgdOptions pgd{eps, a.steps, a.step_size.value_or(-1), a.random_start, seed};
        const bool is_fgsm = a.type == "fgsm";
        const double step = is_fgsm ? eps : attacks::pgd_step_size(pgd);
        const auto what = is_fgsm ? fmt::format("fgsm eps={}", eps_text(eps))
                                  : fmt::format("pgd eps={} steps={}", eps_text(eps), a.steps);
        const Score s = eval.score(what, [&](const at::Tensor& x, const at::Tensor& y, int64_t first) {
          return is_fgsm ? attacks::fgsm(eval.fn(), x, y, eps) : attacks::pgd_linf(eval.fn(), x, y, pgd, first);
        });
        adversarial.push_back({{"attack", a.type}, {"manifest", a.manifest}, {"epsilon", eps},
                               {"steps", is_fgsm ? 1 : a.steps}, {"stepSize", step},
                               {"randomStart", !is_fgsm && a.random_start}, {"correct", s.correct},
                               {"total", s.total}, {"robustAccuracy", s.accuracy()}, {"seconds", s.seconds}});
        note(what, fmt::format("robust   {:6.2f}%  ({}/{})  {:.2f}s", 100 * s.accuracy(), s.correct, s.total, s.seconds));
        worst = std::max(worst, check_threshold(job, {fmt::format("adversarial/{}/eps={}", a.type, eps_text(eps)),
                                                      a.min_accuracy, a.severity, s.accuracy(),
                                                      fmt::format("robust accuracy under {}", what)}, findings));
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
      auto fp = fingerprint::compute(model.module, fingerprint::synthetic_probes(spec).to(device), spec);
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
  result.exit_code = worst == Action::block ? kBlock : worst == Action::review ? kReview : kPass;
  report["verdict"] = worst == Action::block ? "block" : worst == Action::review ? "review" : "pass";
  report["exitCode"] = result.exit_code;
  report["finishedAt"] = utc_now_iso();
  result.report = std::move(report);
  return result;
}

}  // namespace modelgate::engine
