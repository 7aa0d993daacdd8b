#include "engine/runner.h"

#include "engine/dataset.h"
#include "engine/device.h"
#include "engine/evaluate_model.h"
#include "engine/findings.h"
#include "engine/model.h"
#include "engine/preflight.h"
#include "engine/report/files.h"
#include "kernels/ops.h"

namespace modelgate::engine {

RunResult run_job(const JobConfig& job, const RunOptions& options) {
  JobResult out;
  out.started_at = utc_now_iso();
  const c10::Device device = resolve_device(options.device.value_or(job.device));
  const uint64_t seed = options.seed.value_or(job.seed);

  const Dataset data = load_dataset(job.dataset);
  std::vector<LoadedModel> models;
  std::vector<ModelChecks> checks;
  for (const auto& entry : job.models) {
    models.push_back(load_model(entry.path, device));
    checks.push_back(check_model_against_data(models.back(), data, job, device));
  }

  out.tool_version = MODELGATE_VERSION;
  out.environment = current_environment();
  out.job_name = job.name;
  out.job_path = std::filesystem::absolute(job.file).string();
  out.device = device.str();
  out.seed = seed;
  out.kernels.cuda_compiled = kernels::cuda_kernels_compiled();
  for (const auto& op : kernels::operator_names()) out.kernels.backends.emplace_back(op, kernels::backend_for(op, device.type()));
  out.dataset = {data.path.string(), data.size(), data.inputs.sizes().slice(1).vec(), job.batch_size};
  out.manifests = job.manifests;
  out.warnings = job.warnings;

  RunResult run;
  EvaluationContext ctx{device, seed, options.progress, options.records ? &run.records : nullptr};
  for (size_t i = 0; i < models.size(); ++i) {
    auto r = evaluate_model(job, job.models[i].name, models[i], data, ctx);
    r.findings = derive_findings(job, r, checks[i]);
    out.models.push_back(std::move(r));
  }
  out.finished_at = utc_now_iso();
  run.result = std::move(out);
  return run;
}

}  // namespace modelgate::engine
