// `modelgate validate` and `modelgate render`: the commands that turn results into report files.
#include "engine/commands.h"

#include "engine/config.h"
#include "engine/errors.h"
#include "engine/report/files.h"
#include "engine/report/json_report.h"
#include "engine/report/outputs.h"
#include "engine/report/summary.h"
#include "engine/runner.h"
#include "engine/signing.h"

#include <fmt/format.h>

namespace modelgate::engine {

int cmd_validate(const ValidateArgs& args, const Progress& progress) {
  const auto job = load_job(args.job);
  if (!args.sign.empty()) check_signing_key(args.sign);
  // Output names are settled (and clashes refused) before anything runs.
  const auto outputs = plan_outputs(job.report_formats, {args.report, args.junit, args.prometheus, args.html},
                                    job.report_location, job.name);
  // Warnings are not progress: --quiet keeps them.
  for (const auto& w : job.warnings) fmt::print(stderr, "modelgate: warning: {}\n", w);
  RunOptions options;
  options.device = args.device;
  options.seed = args.seed;
  options.records = !args.records.empty();
  options.progress = progress;
  auto run = run_job(job, options);
  if (!args.sign.empty()) run.result.signature = signature_for(nlohmann::json(report_json(run.result)), args.sign);
  if (!args.records.empty()) write_atomically(args.records, run.records);
  const auto written = write_outputs(run.result, outputs);
  fmt::print("{}", summary_text(run.result, written));
  return run.result.exit_code();
}

int cmd_render(const RenderArgs& args) {
  const auto result = read_report(args.report);
  std::vector<Output> outputs;
  if (!args.junit.empty()) outputs.push_back({ReportFormat::junit, args.junit});
  if (!args.prometheus.empty()) outputs.push_back({ReportFormat::prometheus, args.prometheus});
  if (!args.html.empty()) outputs.push_back({ReportFormat::html, args.html});
  for (const auto& o : outputs)
    if (std::filesystem::absolute(o.path).lexically_normal() == std::filesystem::absolute(args.report).lexically_normal())
      throw InputError(fmt::format("{}: is the report being rendered; choose another output path", o.path.string()));
  const auto written = write_outputs(result, outputs);
  if (args.summary || outputs.empty()) {
    fmt::print("{}", summary_text(result, {{"report", args.report}}));
  }
  for (const auto& [label, path] : written) fmt::print("{}: {}\n", label, shown_path(path.string()));
  return 0;
}

}  // namespace modelgate::engine
