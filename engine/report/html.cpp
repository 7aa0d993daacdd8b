#include "engine/report/html.h"

#include "engine/report/svg_chart.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>

namespace modelgate::engine {
namespace {

const char* kStyle = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:#566074} code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
.verdict{display:inline-block;padding:6px 14px;border-radius:6px;font-weight:700;color:#fff;font-size:16px;margin:10px 0}
.verdict.pass{background:#1a7f37}.verdict.review{background:#b35900}.verdict.block{background:#c62828}
table{border-collapse:collapse;background:#fff;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d8dce3;padding:4px 8px;text-align:left;vertical-align:top} th{background:#eef0f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.sev-critical,.act-block{color:#c62828;font-weight:600}.sev-high,.act-review{color:#b35900;font-weight:600}
.incomplete{background:#fff4e5;border:1px solid #b35900;padding:8px 12px;border-radius:6px}
.card{background:#fff;border:1px solid #d8dce3;border-radius:8px;padding:12px 16px;margin:12px 0}
.charts{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
svg.chart{background:#fff;border:1px solid #d8dce3;border-radius:6px;max-width:100%;height:auto}
svg .grid{stroke:#e6e8ec} svg .reference{stroke:#566074;stroke-dasharray:5 4;stroke-width:1.5} svg .frame{fill:none;stroke:#9aa3b2} svg text{font:11px system-ui,sans-serif;fill:#3a4252}
svg .chart-title{font-size:13px;font-weight:600} svg .axis{font-size:12px}
)";

std::string e(const std::string& s) { return html_escape(s); }
std::string pct(double v) { return fmt::format("{:.2f}%", 100 * v); }

std::string findings_table(const std::vector<ModelFinding>& findings) {
  if (findings.empty()) return "<p>No findings.</p>\n";
  std::string s = "<table class=\"findings\"><tr><th>model</th><th>severity</th><th>action</th><th>check</th>"
                  "<th>message</th><th>observed</th><th>threshold</th></tr>\n";
  for (const auto& [model, f] : findings)
    s += fmt::format("<tr><td>{}</td><td class=\"sev-{}\">{}</td><td class=\"act-{}\">{}</td><td><code>{}</code></td>"
                     "<td>{}</td><td class=\"num\">{:.4g}</td><td class=\"num\">{:.4g}</td></tr>\n",
                     model.empty() ? "(job)" : e(model), to_string(f.severity), to_string(f.severity), to_string(f.action),
                     to_string(f.action),
                     e(f.check), e(f.message), f.observed, f.threshold);
  return s + "</table>\n";
}

// Attack plans that differ only in ε are one line of the chart.
std::vector<ChartSeries> attack_series(const ModelResult& m) {
  std::vector<ChartSeries> out;
  std::map<std::string, size_t> index;
  for (const auto& a : m.attacks) {
    const auto name = a.plan.name() + a.plan.settings();
    auto [it, added] = index.emplace(name, out.size());
    if (added) out.push_back({name, {}});
    out[it->second].points.emplace_back(a.plan.epsilon, a.robust.accuracy());
  }
  return out;
}

// One chart per kind of corruption, each against its own setting: noise against its standard
// deviation, blur against its kernel size, the stored corruptions (a series each) against severity.
struct CorruptionChart {
  std::string title, x_label;
  std::vector<ChartSeries> series;
};

std::vector<CorruptionChart> corruption_charts(const ModelResult& m) {
  std::vector<CorruptionChart> out;
  std::map<std::string, size_t> index;
  for (const auto& c : m.corruptions) {
    const bool noise = c.plan.kind == CorruptionKind::gaussian_noise;
    const bool stored = c.plan.kind == CorruptionKind::stored;
    const bool by_severity = stored || c.plan.kind == CorruptionKind::benchmark;
    const auto kind = to_string(c.plan.kind);
    auto [it, added] = index.emplace(kind, out.size());
    if (added)
      out.push_back({stored ? "Accuracy on the stored corruptions"
                     : by_severity ? "Accuracy under the corruption benchmark"
                     : noise ? "Accuracy under Gaussian noise" : "Accuracy under Gaussian blur",
                     by_severity ? "severity" : noise ? "standard deviation σ" : "kernel size k (k×k)", {}});
    auto& chart = out[it->second];
    const auto name = by_severity ? c.plan.name : kind;
    auto series = std::find_if(chart.series.begin(), chart.series.end(), [&](const ChartSeries& s) { return s.name == name; });
    if (series == chart.series.end()) series = chart.series.insert(chart.series.end(), ChartSeries{name, {}});
    series->points.emplace_back(by_severity ? static_cast<double>(c.plan.corruption_severity)
                                : noise ? c.plan.level
                                        : static_cast<double>(c.plan.kernel),
                                c.score.accuracy());
  }
  return out;
}

// The corruption benchmark: error per severity, CE and relative CE per corruption, then mCE.
std::string benchmark_table(const BenchmarkSummary& b) {
  const auto opt = [](const std::optional<double>& v) { return v ? pct(*v) : std::string("–"); };
  std::string s = fmt::format("<h3>Corruption benchmark</h3>\n<p>mCE <strong>{}</strong>, relative mCE {}, mean error {}{}{}</p>\n",
                              opt(b.mce), opt(b.relative_mce), opt(b.mean_error),
                              b.baseline.empty() ? " (no baseline: CE needs one)" : " against " + e(b.baseline),
                              b.complete ? "" : "; not every corruption and severity was evaluated");
  s += "<table><tr><th>corruption</th><th>errors by severity</th><th>CE</th><th>relative CE</th></tr>\n";
  for (const auto& r : b.rows) {
    std::string errors;
    for (size_t i = 0; i < r.errors.size(); ++i)
      errors += fmt::format("{}{}: {}", i ? ", " : "", r.severities[i], pct(r.errors[i]));
    s += fmt::format("<tr><td>{}{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n", e(r.name),
                     r.in_mean ? "" : " (held out)", errors, opt(r.ce), opt(r.relative_ce));
  }
  return s + "</table>\n";
}

std::string model_section(const ModelResult& m) {
  std::string s = fmt::format("<section class=\"model\" id=\"model-{}\">\n<h2>{}</h2>\n", e(m.name), e(m.name));
  s += fmt::format("<p class=\"meta\"><code>{}</code><br>sha256 <code>{}</code></p>\n", e(m.path), e(m.sha256));
  if (m.clean.total > 0)
    s += fmt::format("<p>Clean accuracy <strong>{}</strong> ({}/{})</p>\n", pct(m.clean.accuracy()), m.clean.correct,
                     m.clean.total);
  else
    s += "<p>Clean accuracy: not measured (no clean samples were evaluated)</p>\n";
  const auto attacks = attack_series(m);
  const auto corruptions = corruption_charts(m);
  std::vector<ChartReference> clean;
  if (m.clean.total > 0) clean.push_back({"clean accuracy", m.clean.accuracy()});
  if (!attacks.empty() || !corruptions.empty()) {
    s += "<div class=\"charts\">\n";
    if (!attacks.empty()) s += svg_line_chart("Robust accuracy against ε", "ε", "robust accuracy", attacks, clean);
    for (const auto& c : corruptions) s += svg_line_chart(c.title, c.x_label, "accuracy", c.series, clean);
    s += "</div>\n";
  }
  if (!m.attacks.empty()) {
    s += "<h3>Attacks</h3>\n<table><tr><th>attack</th><th>ε</th><th>settings</th><th>robust</th><th>correct</th>"
         "<th>last iterate</th><th>zero gradients</th><th>seconds</th></tr>\n";
    for (const auto& a : m.attacks)
      s += fmt::format("<tr><td>{}</td><td class=\"num\">{:.4g}</td><td>{}</td><td class=\"num\">{}</td>"
                       "<td class=\"num\">{}/{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                       "<td class=\"num\">{:.2f}</td></tr>\n",
                       e(a.plan.name()), a.plan.epsilon, e(a.plan.settings()), pct(a.robust.accuracy()),
                       a.robust.correct, a.robust.total, a.last_correct ? std::to_string(*a.last_correct) : "–",
                       pct(a.zero_gradient_fraction), a.seconds);
    s += "</table>\n";
  }
  if (!m.corruptions.empty()) {
    s += "<h3>Corruptions</h3>\n<table><tr><th>corruption</th><th>setting</th><th>accuracy</th><th>correct</th>"
         "<th>seconds</th></tr>\n";
    for (const auto& c : m.corruptions)
      s += fmt::format("<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}/{}</td>"
                       "<td class=\"num\">{:.2f}</td></tr>\n",
                       to_string(c.plan.kind), e(c.plan.description()), pct(c.score.accuracy()), c.score.correct,
                       c.score.total, c.seconds);
    s += "</table>\n";
  }
  if (m.benchmark) s += benchmark_table(*m.benchmark);
  if (m.inference || m.resources) {
    s += "<h3>Monitoring</h3>\n<table>\n";
    if (m.inference) {
      const auto& f = *m.inference;
      s += fmt::format("<tr><th>batch-1 latency</th><td>p50 {:.2f} ms · p95 {:.2f} ms · p99 {:.2f} ms · max {:.2f} ms "
                       "over {} requests</td></tr>\n",
                       f.single.p50_ms, f.single.p95_ms, f.single.p99_ms, f.single.max_ms, f.single.count);
      s += fmt::format("<tr><th>batch latency</th><td>p50 {:.2f} ms · p99 {:.2f} ms over {} batches</td></tr>\n",
                       f.batch.p50_ms, f.batch.p99_ms, f.batch.count);
      s += fmt::format("<tr><th>throughput</th><td>{:.0f} samples/s</td></tr><tr><th>error rate</th><td>{:.4f} "
                       "({} of {} passes)</td></tr>\n",
                       f.throughput, f.error_rate(), f.failed_batches, f.batches);
    }
    if (m.resources) {
      const auto& u = *m.resources;
      s += fmt::format("<tr><th>peak resident memory</th><td>{:.0f} MiB ({:.1f}% of {:.0f} MiB)</td></tr>\n",
                       u.peak_rss_bytes / 1048576.0, 100 * u.memory_share(), u.memory_total_bytes / 1048576.0);
      s += fmt::format("<tr><th>CPU</th><td>{:.1f} s of CPU in {:.1f} s on {} cores ({:.0f}%)</td></tr>\n", u.cpu_seconds,
                       u.wall_seconds, u.cores, 100 * u.cpu_share());
      if (u.gpu_share())
        s += fmt::format("<tr><th>GPU memory</th><td>{:.0f} MiB peak ({:.1f}%)</td></tr>\n", *u.gpu_peak_bytes / 1048576.0,
                         100 * *u.gpu_share());
    }
    s += "</table>\n";
  }
  if (!m.skipped.empty()) {
    s += "<h3>Skipped</h3>\n<table class=\"skipped\"><tr><th>check</th><th>manifest</th><th>reason</th></tr>\n";
    for (const auto& k : m.skipped)
      s += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n", e(k.description), e(k.manifest), e(k.reason));
    s += "</table>\n";
  }
  if (m.fingerprint) {
    const auto& f = *m.fingerprint;
    s += fmt::format("<h3>Fingerprint</h3>\n<table><tr><th>root digest</th><td><code>{}</code></td></tr>"
                     "<tr><th>architecture digest</th><td><code>{}</code></td></tr>"
                     "<tr><th>parameters</th><td class=\"num\">{}</td></tr><tr><th>layers</th><td>{}</td></tr>"
                     "<tr><th>probes</th><td>{} synthetic (seed {}), {} real, {} boundary</td></tr></table>\n",
                     e(f.root_sha256), e(f.arch_sha256), f.parameter_count, e(fmt::format("{}", fmt::join(f.layers, ", "))),
                     f.probes.synthetic, f.probes.seed, f.probes.real, f.probes.boundary.count);
  }
  return s + "</section>\n";
}

std::string environment_section(const JobResult& r) {
  const auto& env = r.environment;
  std::string s = "<section id=\"environment\">\n<h2>Environment and timings</h2>\n<table>\n";
  auto row = [&](const std::string& k, const std::string& v) { s += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", e(k), v); };
  row("modelgate", e(env.modelgate));
  row("LibTorch", e(env.libtorch));
  row("CUDA / cuDNN", e(env.cuda.value_or("not compiled in") + " / " + env.cudnn.value_or("none")));
  row("GPU", env.cuda_available ? fmt::format("{} device(s) usable", env.cuda_devices) : "none usable");
  row("CPU threads", std::to_string(env.cpu_threads));
  row("device", e(r.device));
  row("seed", std::to_string(r.seed));
  row("started", e(r.started_at));
  row("finished", e(r.finished_at));
  row("run time", fmt::format("{:.2f} s", r.run_seconds()));
  row("dataset", fmt::format("<code>{}</code>: {} samples of [{}], batches of {}", e(r.dataset.path), r.dataset.samples,
                             fmt::join(r.dataset.input_shape, ", "), r.dataset.batch_size));
  std::string backends;
  for (const auto& [op, b] : r.kernels.backends) backends += fmt::format("{}{}: {}", backends.empty() ? "" : ", ", e(op), e(b));
  row("kernels", fmt::format("CUDA compiled {}; {}", r.kernels.cuda_compiled ? "in" : "out", backends));
  if (!r.permissions.empty()) {
    s += "</table>\n<h3>File permissions</h3>\n<table><tr><th>path</th><th>mode</th><th>allowed</th><th>result</th></tr>\n";
    for (const auto& c : r.permissions)
      s += fmt::format("<tr><td><code>{}</code></td><td>{}</td><td>{:04o}</td><td>{}</td></tr>\n", e(c.path),
                       c.exists ? fmt::format("{:04o}", c.mode) : "missing", c.allowed, c.ok() ? "ok" : "too open");
  }
  s += "</table>\n<h3>Manifests</h3>\n<table><tr><th>kind</th><th>name</th><th>handled</th></tr>\n";
  for (const auto& m : r.manifests)
    s += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n", e(m.kind), e(m.name), m.handled ? "yes" : "no");
  s += "</table>\n";
  if (!r.warnings.empty()) {
    s += "<h3>Warnings</h3>\n<ul>\n";
    for (const auto& w : r.warnings) s += "<li>" + e(w) + "</li>\n";
    s += "</ul>\n";
  }
  return s + "</section>\n";
}

}  // namespace

std::string html_report(const JobResult& r) {
  const auto verdict = verdict_name(r.verdict());
  std::string s = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  s += fmt::format("<title>modelgate: {} ({})</title>\n<style>{}</style>\n</head>\n<body>\n<main>\n", e(r.job_name),
                   verdict, kStyle);
  s += fmt::format("<h1>modelgate report: {}</h1>\n<p class=\"meta\">{} · device {} · {} samples · finished {}</p>\n",
                   e(r.job_name), e(r.job_path), e(r.device), r.dataset.samples, e(r.finished_at));
  s += fmt::format("<div class=\"verdict {}\" id=\"verdict\">verdict: {} (exit {})</div>\n", verdict, verdict, r.exit_code());
  if (!r.complete)
    s += fmt::format("<p class=\"incomplete\"><strong>This report is incomplete:</strong> {}.</p>\n",
                     r.interrupted ? "the run was interrupted by " + e(*r.interrupted)
                                   : std::string("a time budget ran out; the checks not run are listed as skipped"));
  s += "<section id=\"findings\">\n<h2>Findings</h2>\n" + findings_table(r.findings()) + "</section>\n";
  if (r.baseline) {
    const auto& b = *r.baseline;
    s += "<section id=\"baseline\">\n<h2>Baseline</h2>\n";
    s += b.path ? fmt::format("<p>Compared with <code>{}</code> (sha256 <code>{}</code>): {} checks, {} dropped by more "
                              "than {:.2f} points.{}</p>\n",
                              e(*b.path), e(b.sha256), b.compared, b.drops, 100 * b.max_drop,
                              b.changed_sha256.empty() ? "" : " Model files changed: " + e(fmt::format("{}", fmt::join(b.changed_sha256, ", "))) + ".")
                : "<p>" + e(b.note) + "</p>\n";
    s += "</section>\n";
  }
  for (const auto& m : r.models) s += model_section(m);
  s += environment_section(r);
  return s + "</main>\n</body>\n</html>\n";
}

}  // namespace modelgate::engine
