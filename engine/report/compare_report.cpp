#include "engine/report/compare_report.h"

#include "engine/report/files.h"
#include "engine/report/json_report.h"
#include "engine/report/summary.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace modelgate::engine {

std::string comparison_text(const fingerprint::Comparison& c) {
  auto value = [&](const std::string& name) {
    const auto v = c.metrics.get(name);
    return v ? fmt::format("{:.4f}", *v) : std::string("n/a");
  };
  std::string s;
  s += fmt::format("weights   {} (tensors matching {}/{}, compared {}), architecture {}\n",
                   c.weights_identical ? "identical" : "differ", c.tensors_matching, c.tensors_reference,
                   c.tensors_compared, c.arch_identical ? "identical" : "differs");
  s += fmt::format("outputs   agreement {}  JS distance {}  logit correlation {}  max rel diff {}\n",
                   value("outputAgreement"), value("jsDistance"), value("logitCorrelation"),
                   c.max_logit_rel_diff ? fmt::format("{:.3g}", *c.max_logit_rel_diff) : "n/a");
  s += fmt::format("boundary  agreement {}  accuracy gap {}\n", value("boundaryAgreement"), value("boundaryAccuracyGap"));
  s += fmt::format("layers    LOD {}  LAD {}  CKA {}  ({} compared{})\n", value("lod"), value("lad"), value("cka"),
                   c.layers.size(),
                   c.unmatched_layers.empty() ? "" : fmt::format(", unmatched: {}", fmt::join(c.unmatched_layers, ", ")));
  s += fmt::format("weights   cosine {}  relative L2 {}\n", value("weightCosine"), value("weightRelL2"));
  s += fmt::format("rules     {} ({})\n", c.rules_met.empty() ? "none met" : fmt::format("{}", fmt::join(c.rules_met, "; ")),
                   c.thresholds.source.empty() ? "given" : shown_path(c.thresholds.source));
  return s;
}

nlohmann::json comparison_report(const ComparedSide& reference, const ComparedSide& candidate,
                                 const fingerprint::Comparison& c, int exit_code, const std::string& device,
                                 const SignatureChecks& signatures, const Environment& environment) {
  auto side = [](const ComparedSide& s) {
    return nlohmann::json{{"path", s.path}, {"rootSha256", s.fingerprint.root_sha256},
                          {"modelSha256", s.fingerprint.model_sha256}};
  };
  return {{"verdict", fingerprint::to_string(c.verdict)},
          {"exitCode", exit_code},
          {"tool", {{"name", "modelgate"}, {"version", environment.modelgate}}},
          {"environment", nlohmann::json(environment_json(environment))},
          {"device", device},
          {"reference", side(reference)},
          {"candidate", side(candidate)},
          {"comparison", c.to_json()},
          {"signatures", {{"reference", signatures.reference}, {"candidate", signatures.candidate},
                          {"thresholds", signatures.thresholds}}},
          {"finishedAt", utc_now_iso()}};
}

}  // namespace modelgate::engine
