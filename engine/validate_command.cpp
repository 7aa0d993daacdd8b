// `modelgate validate` and `modelgate render`: the commands that turn results into report files.
#include "engine/commands.h"

#include "engine/config.h"
#include "engine/errors.h"
#include "engine/regression.h"
#include "engine/report/files.h"
#include "engine/report/history.h"
#include "engine/report/json_report.h"
#include "engine/report/outputs.h"
#include "engine/report/summary.h"
#include "engine/run_lock.h"
#include "engine/runner.h"
#include "engine/signing.h"
#include "engine/stop.h"

#include <fmt/format.h>

namespace modelgate::engine {

int cmd_validate(const ValidateArgs& args, const Progress& progress) {
  const auto job = load_job(args.job);
  if (!args.sign.empty()) check_signing_key(args.sign);
  RunOptions options;
  options.check_estimate = !args.run_past_estimate;
  if (args.budget) {
    options.budget_seconds = parse_duration(*args.budget);
    if (!options.budget_seconds) throw InputError(fmt::format("--budget: expected a duration such as 90m or 2h, got '{}'", *args.budget));
  }
  // Output names are settled (and clashes refused) before anything runs.
  const auto outputs = plan_outputs(job.report_formats, {args.report, args.junit, args.prometheus, args.html},
                                    job.report_location, job.name);
  // Every output can be written, and none of them is an input, before anything runs.
  std::vector<std::filesystem::path> inputs = job.dataset.read_paths();
  inputs.push_back(job.file);
  for (const auto& m : job.models) {
    inputs.push_back(m.path);
    if (!m.key.empty()) inputs.push_back(m.key);
  }
  if (!args.sign.empty()) inputs.emplace_back(args.sign);
  if (args.baseline && *args.baseline != "auto" && *args.baseline != "none") inputs.emplace_back(*args.baseline);
  for (const auto& o : outputs) check_output_path(o.path, to_string(o.format), inputs);
  if (!args.records.empty()) {
    for (const auto& o : outputs)
      if (std::filesystem::absolute(o.path).lexically_normal() == std::filesystem::absolute(args.records).lexically_normal())
        throw InputError(fmt::format("{}: named as both the records and the {} output", args.records, to_string(o.format)));
    check_output_path(args.records, "records", inputs);
  }
  // One run of a job at a time, per report folder: a second exits 4 at once, writing nothing.
  const RunLock lock(outputs.front().path.parent_path().empty() ? std::filesystem::path(".") : outputs.front().path.parent_path(),
                     job.name);
  // Warnings are not progress: --quiet keeps them.
  for (const auto& w : job.warnings) fmt::print(stderr, "modelgate: warning: {}\n", w);
  options.device = args.device;
  options.seed = args.seed;
  options.baseline = args.baseline;
  options.records = !args.records.empty();
  options.signal = args.signal;
  if (!args.sign.empty()) options.key_files.push_back(args.sign);
  options.report_path = outputs.front().path;
  options.progress = progress;
  auto run = run_job(job, options);
  if (!args.sign.empty()) run.result.signature = signature_for(nlohmann::json(report_json(run.result)), args.sign);
  if (!args.records.empty()) write_atomically(args.records, run.records);
  const auto written = write_outputs(run.result, outputs);
  std::string retention;
  if (job.keep_reports && run.result.complete) {
    std::vector<std::string> exts;
    for (auto f : {ReportFormat::json, ReportFormat::junit, ReportFormat::prometheus, ReportFormat::html})
      exts.push_back(extension(f));
    const auto removed = prune_reports(job.report_location, job.name, *job.keep_reports, exts);
    if (!removed.empty())
      retention = fmt::format("retention: removed {} file(s) of older reports (keeping the newest {} complete)\n",
                              removed.size(), *job.keep_reports);
  }
  fmt::print("{}{}", summary_text(run.result, written), retention);
  return run.result.exit_code();
}

int cmd_diff(const DiffArgs& args) {
  const auto before = read_report(args.before), after = read_report(args.after);
  const auto c = compare_runs(before, after);
  fmt::print("{} ({}) → {} ({})\n{}", shown_path(args.before), before.started_at, shown_path(args.after), after.started_at,
             comparison_table(c, args.max_drop));
  return c.drops(args.max_drop).empty() ? 0 : 1;
}

int cmd_render(const RenderArgs& args) {
  const auto result = read_report(args.report);
  std::vector<Output> outputs;
  if (!args.junit.empty()) outputs.push_back({ReportFormat::junit, args.junit});
  if (!args.prometheus.empty()) outputs.push_back({ReportFormat::prometheus, args.prometheus});
  if (!args.html.empty()) outputs.push_back({ReportFormat::html, args.html});
  for (const auto& o : outputs) {
    if (std::filesystem::absolute(o.path).lexically_normal() == std::filesystem::absolute(args.report).lexically_normal())
      throw InputError(fmt::format("{}: is the report being rendered; choose another output path", o.path.string()));
    check_output_path(o.path, to_string(o.format), {args.report});
  }
  const auto written = write_outputs(result, outputs);
  if (args.summary || outputs.empty()) {
    fmt::print("{}", summary_text(result, {{"report", args.report}}));
  }
  for (const auto& [label, path] : written) fmt::print("{}: {}\n", label, shown_path(path.string()));
  return 0;
}

}  // namespace modelgate::engine
