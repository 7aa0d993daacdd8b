#include "engine/work_estimate.h"

#include "engine/errors.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace modelgate::engine {
namespace {

// A forward pass alone costs about a third of a forward and a backward.
constexpr double kForward = 1.0 / 3.0;

std::string duration_text(double s) {
  if (s < 120) return fmt::format("{:.0f} s", s);
  if (s < 7200) return fmt::format("{:.0f} min", s / 60);
  if (s < 172800) return fmt::format("{:.1f} h", s / 3600);
  if (s < 3.15e9) return fmt::format("{:.0f} days", s / 86400);
  return "over a century";
}

std::string passes_text(double p) { return p < 1e6 ? fmt::format("{:.0f}", p) : fmt::format("{:.2g}", p); }

}  // namespace

std::vector<CheckWork> job_work(const JobConfig& job, int64_t samples) {
  const double n = static_cast<double>(samples);
  std::vector<CheckWork> out;
  if (job.dataset.format != data::Format::corrupted_npy || job.dataset.clean)  // else there are no clean samples
    out.push_back({"the clean pass", "clean evaluation", "", kForward * n});
  for (const auto& a : job.attacks) {
    // Each step is a forward and a backward; the adversarial examples are then evaluated once.
    const double steps = a.kind == AttackKind::fgsm ? 1.0 : static_cast<double>(a.steps) * static_cast<double>(a.restarts);
    out.push_back({a.source, a.description(), a.manifest, (steps + kForward) * n});
  }
  for (const auto& c : job.corruptions) out.push_back({c.source, c.description(), c.manifest, kForward * n});
  std::string fingerprint_manifest;
  bool fingerprinting = false;
  for (const auto& m : job.manifests)
    if (m.kind == "ModelFingerprinting") fingerprinting = true, fingerprint_manifest = m.name;
  if (fingerprinting)
    out.push_back({"ModelFingerprinting '" + fingerprint_manifest + "': spec.probes", "fingerprint", fingerprint_manifest,
                   kForward * static_cast<double>(job.fingerprint_probes)});
  return out;
}

void check_work(const JobConfig& job, int64_t samples, const std::vector<ModelPace>& models,
                std::optional<double> job_budget) {
  const auto work = job_work(job, samples);
  for (const auto& m : models) {
    if (!(m.sample_seconds > 0)) continue;
    auto refuse = [&](const CheckWork& w, double seconds, double limit, const std::string& limit_name) {
      throw InputError(fmt::format(
          "{}: {}: {} needs about {} passes over the {} samples, about {} at the {:.3g} ms per sample measured on model "
          "'{}'; that is over {} times {} ({}): lower the steps, restarts, ε values or samples, or raise the limit",
          job.file.string(), w.source, w.what, passes_text(w.passes), samples, duration_text(seconds), m.sample_seconds * 1e3,
          m.name, kEstimateMargin, limit_name, duration_text(limit)));
    };
    // One check runs as one evaluation in the worker, which its timeout ends.
    if (job.isolation.process)
      for (const auto& w : work)
        if (w.passes * m.sample_seconds > kEstimateMargin * job.isolation.evaluation_seconds)
          refuse(w, w.passes * m.sample_seconds, job.isolation.evaluation_seconds,
                 "the evaluation timeout (ProcessIsolation spec.timeouts.evaluation)");
    std::map<std::string, double> per_manifest;
    for (const auto& w : work) per_manifest[w.manifest] += w.passes * m.sample_seconds;
    for (const auto& [manifest, limit] : job.manifest_budgets) {
      const auto it = per_manifest.find(manifest);
      if (it == per_manifest.end() || it->second <= kEstimateMargin * limit) continue;
      // Name the manifest's largest check: it is the one to change.
      const CheckWork* largest = nullptr;
      for (const auto& w : work)
        if (w.manifest == manifest && (!largest || w.passes > largest->passes)) largest = &w;
      refuse(*largest, it->second, limit, fmt::format("the schedule.duration of '{}'", manifest));
    }
    if (job_budget) {
      double total = 0;
      const CheckWork* largest = nullptr;
      for (const auto& w : work) {
        total += w.passes * m.sample_seconds;
        if (!largest || w.passes > largest->passes) largest = &w;
      }
      if (total > kEstimateMargin * *job_budget) refuse(*largest, total, *job_budget, "the job's budget (spec.budget or --budget)");
    }
  }
}

}  // namespace modelgate::engine
