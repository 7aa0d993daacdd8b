#include "fingerprint/compare.h"

#include "fingerprint/metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

namespace modelgate::fingerprint {
namespace {

using nlohmann::json;

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, std::abs(double(x)));
  return m;
}

// Scale for the absolute tolerance and the relative difference: the reference's magnitude, so
// the same rule holds for logits of size 1e-3 and 1e3. An all-zero reference falls back to 1.
double scale_of(const std::vector<float>& reference) {
  const double m = max_abs(reference);
  return m > 0 ? m : 1.0;
}

bool allclose(const std::vector<float>& ref, const std::vector<float>& cand, const Thresholds& t) {
  if (ref.size() != cand.size()) return false;
  const double abs_tol = t.atol * scale_of(ref);
  for (size_t i = 0; i < ref.size(); ++i) {
    const double r = ref[i], c = cand[i];
    // Written so that NaN anywhere fails the comparison.
    if (!(std::abs(c - r) <= abs_tol + t.rtol * std::abs(r))) return false;
  }
  return true;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(double(a[i]) - double(b[i]));
    m = std::isnan(d) ? d : std::max(m, d);
    if (std::isnan(m)) break;
  }
  return m;
}

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

std::optional<double> mean_of(const std::vector<double>& v) {
  if (v.empty()) return std::nullopt;
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

LayerComparison compare_layer(const LayerSummary& ref, const LayerSummary& cand, const Thresholds& t) {
  LayerComparison lc;
  lc.name = ref.name;
  lc.same_shape = ref.shape == cand.shape;
  lc.cka = linear_cka(ref.channel_means, cand.channel_means);
  if (lc.same_shape) {
    lc.lod = layer_output_distance(ref.channel_means, cand.channel_means);
    lc.lad = layer_activation_distance(ref.channel_means, cand.channel_means);
    lc.allclose = allclose(ref.channel_means.values, cand.channel_means.values, t);
    lc.max_rel_diff = max_abs_diff(ref.channel_means.values, cand.channel_means.values) / scale_of(ref.channel_means.values);
  }
  return lc;
}

bool holds(const Rule& r, const Metrics& m) {
  const auto v = m.get(r.metric);
  if (!v || std::isnan(*v)) return false;
  return r.op == ">=" ? *v >= r.value : *v <= r.value;
}

std::string rule_text(const Rule& r) {
  std::ostringstream out;
  out << r.metric << ' ' << r.op << ' ' << r.value;
  return out.str();
}

}  // namespace

std::string to_string(Verdict v) {
  switch (v) {
    case Verdict::identical: return "identical";
    case Verdict::equivalent: return "equivalent";
    case Verdict::derived: return "derived";
    case Verdict::unrelated: return "unrelated";
  }
  throw std::logic_error("to_string: Verdict value " + std::to_string(int(v)) + " is not an enumerator");
}

const std::vector<std::string>& metric_names() {
  static const std::vector<std::string> names{"outputAgreement", "jsDistance", "boundaryAgreement",
                                              "boundaryAccuracyGap", "lod", "lad", "cka",
                                              "weightCosine", "weightRelL2", "logitCorrelation"};
  return names;
}

std::optional<double> Metrics::get(const std::string& name) const {
  if (name == "outputAgreement") return output_agreement;
  if (name == "jsDistance") return js_distance;
  if (name == "boundaryAgreement") return boundary_agreement;
  if (name == "boundaryAccuracyGap") return boundary_accuracy_gap;
  if (name == "lod") return lod;
  if (name == "lad") return lad;
  if (name == "cka") return cka;
  if (name == "weightCosine") return weight_cosine;
  if (name == "weightRelL2") return weight_rel_l2;
  if (name == "logitCorrelation") return logit_correlation;
  throw std::invalid_argument("unknown metric '" + name + "'");
}

Thresholds thresholds_from_json(const nlohmann::json& j, const std::string& source) {
  auto bad = [&](const std::string& field, const std::string& expected) {
    return std::invalid_argument(source + ": '" + field + "' " + expected);
  };
  if (!j.is_object()) throw bad("<top level>", "must be an object");
  if (!j.contains("formatVersion") || j["formatVersion"] != 1) throw bad("formatVersion", "must be 1");
  if (!j.contains("derived") || !j["derived"].is_object()) throw bad("derived", "must be an object");
  const json& derived = j["derived"];
  if (derived.value("combine", "") != "any") throw bad("derived.combine", "must be \"any\"");
  if (!derived.contains("rules") || !derived["rules"].is_array()) throw bad("derived.rules", "must be an array");
  Thresholds t;
  t.source = source;
  const auto& names = metric_names();
  for (size_t i = 0; i < derived["rules"].size(); ++i) {
    const json& r = derived["rules"][i];
    const std::string at = "derived.rules[" + std::to_string(i) + "]";
    if (!r.is_object()) throw bad(at, "must be an object");
    Rule rule;
    if (!r.contains("metric") || !r["metric"].is_string() ||
        std::find(names.begin(), names.end(), r["metric"].get<std::string>()) == names.end()) {
      std::string known;
      for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
      throw bad(at + ".metric", "must be one of " + known);
    }
    rule.metric = r["metric"];
    if (!r.contains("op") || !r["op"].is_string() || (r["op"] != ">=" && r["op"] != "<=")) {
      throw bad(at + ".op", "must be \">=\" or \"<=\"");
    }
    rule.op = r["op"];
    if (!r.contains("value") || !r["value"].is_number()) throw bad(at + ".value", "must be a number");
    rule.value = r["value"];
    t.derived.push_back(rule);
  }
  return t;
}

Comparison compare(const Fingerprint& reference, const Fingerprint& candidate, const Thresholds& t) {
  if (!same_probes(reference.probes, candidate.probes)) {
    throw std::invalid_argument(
        "compare: the candidate's fingerprint was taken on other probes than the reference's "
        "(seed, synthetic, inputShape, dataSha256, real and the boundary probes must agree); fingerprint "
        "the candidate with the reference's probe spec");
  }
  Comparison c;
  c.thresholds = t;
  c.weights_identical = reference.root_sha256 == candidate.root_sha256;
  c.arch_identical = reference.arch_sha256 == candidate.arch_sha256;
  c.tensors_reference = int64_t(reference.tensors.size());
  c.tensors_candidate = int64_t(candidate.tensors.size());
  std::vector<double> cosines, rel_l2s;
  const bool sketches_comparable = reference.sketch_bits == candidate.sketch_bits && reference.sketch_seed == candidate.sketch_seed;
  for (const auto& [name, ref] : reference.tensors) {
    const auto it = candidate.tensors.find(name);
    if (it == candidate.tensors.end()) continue;
    const TensorRecord& cand = it->second;
    if (cand.sha256 == ref.sha256) ++c.tensors_matching;
    if (cand.shape != ref.shape || ref.sketch.empty() || cand.sketch.empty() || !sketches_comparable) continue;
    ++c.tensors_compared;
    const double cosine = cand.sha256 == ref.sha256 ? 1.0 : sketch_cosine(ref.sketch, cand.sketch, reference.sketch_bits);
    cosines.push_back(cosine);
    if (const auto rel = relative_l2(ref.norm, cand.norm, cosine)) rel_l2s.push_back(cand.sha256 == ref.sha256 ? 0.0 : *rel);
  }
  c.metrics.weight_cosine = mean_of(cosines);
  c.metrics.weight_rel_l2 = mean_of(rel_l2s);

  const Matrix& rl = reference.logits;
  const Matrix& cl = candidate.logits;
  c.outputs_comparable = reference.output_shape == candidate.output_shape && rl.values.size() == cl.values.size();
  if (c.outputs_comparable) {
    c.logits_allclose = allclose(rl.values, cl.values, t);
    c.max_logit_abs_diff = max_abs_diff(rl.values, cl.values);
    c.max_logit_rel_diff = *c.max_logit_abs_diff / scale_of(rl.values);
    c.metrics.output_agreement = top1_agreement(rl, cl, 0, rl.rows);
    c.metrics.js_distance = js_distance(rl, cl);
    c.metrics.logit_correlation = centred_correlation(rl, cl);
    const BoundaryProbes& b = reference.probes.boundary;
    const int64_t first = rl.rows - b.count;
    if (b.count > 0 && first >= 0) {
      c.metrics.boundary_agreement = top1_agreement(rl, cl, first, rl.rows);
      const auto ref_acc = accuracy(rl, b.labels, first, rl.rows), cand_acc = accuracy(cl, b.labels, first, rl.rows);
      if (ref_acc && cand_acc) c.metrics.boundary_accuracy_gap = std::abs(*cand_acc - *ref_acc);
    }
  }

  std::map<std::string, const LayerSummary*> cand_layers;
  for (const LayerSummary& l : candidate.layers) cand_layers[l.name] = &l;
  std::set<std::string> unmatched;
  c.layers_allclose = true;
  std::vector<double> lods, lads, ckas;
  for (const LayerSummary& l : reference.layers) {
    const auto it = cand_layers.find(l.name);
    if (it == cand_layers.end()) {
      unmatched.insert(l.name);
      continue;
    }
    LayerComparison lc = compare_layer(l, *it->second, t);
    if (lc.same_shape) c.layers_allclose = c.layers_allclose && lc.allclose;
    if (lc.lod) lods.push_back(*lc.lod);
    if (lc.lad) lads.push_back(*lc.lad);
    if (lc.cka) ckas.push_back(*lc.cka);
    c.layers.push_back(std::move(lc));
    cand_layers.erase(it);
  }
  for (const auto& [name, layer] : cand_layers) unmatched.insert(name);
  c.unmatched_layers.assign(unmatched.begin(), unmatched.end());
  c.metrics.lod = mean_of(lods);
  c.metrics.lad = mean_of(lads);
  c.metrics.cka = mean_of(ckas);

  // Equal outputs on every probe with other weights or layers (a neuron permutation, a
  // re-parameterisation) are the same function: derived by construction, whatever the rules say.
  const bool same_function = c.logits_allclose && !c.layers_allclose;
  if (same_function) c.rules_met.push_back("logitsAllclose (same outputs on every probe)");
  for (const Rule& r : t.derived) {
    if (holds(r, c.metrics)) c.rules_met.push_back(rule_text(r));
  }
  // Empty manifests hash alike, so weightless models are never "identical" by digest alone.
  if (c.weights_identical && c.arch_identical && !reference.tensors.empty() && c.logits_allclose) {
    c.verdict = Verdict::identical;
  } else if (c.logits_allclose && c.layers_allclose) {
    c.verdict = Verdict::equivalent;
  } else if (!c.rules_met.empty()) {
    c.verdict = Verdict::derived;
  } else {
    c.verdict = Verdict::unrelated;
  }
  return c;
}

nlohmann::json Comparison::to_json() const {
  json layer_list = json::array();
  for (const LayerComparison& l : layers) {
    layer_list.push_back({{"name", l.name},
                          {"sameShape", l.same_shape},
                          {"lod", optional_json(l.lod)},
                          {"lad", optional_json(l.lad)},
                          {"cka", optional_json(l.cka)},
                          {"maxRelDiff", l.max_rel_diff},
                          {"allclose", l.allclose}});
  }
  json rules = json::array();
  for (const Rule& r : thresholds.derived) rules.push_back({{"metric", r.metric}, {"op", r.op}, {"value", r.value}});
  json metric_values = json::object();
  for (const std::string& name : metric_names()) metric_values[name] = optional_json(metrics.get(name));
  return {{"verdict", to_string(verdict)},
          {"thresholds", {{"rtol", thresholds.rtol}, {"atol", thresholds.atol}, {"source", thresholds.source},
                          {"derived", {{"combine", "any"}, {"rules", std::move(rules)}}}}},
          {"metrics", std::move(metric_values)},
          {"rulesMet", rules_met},
          {"weightsIdentical", weights_identical},
          {"archIdentical", arch_identical},
          {"tensorsMatching", tensors_matching},
          {"tensorsCompared", tensors_compared},
          {"tensorsReference", tensors_reference},
          {"tensorsCandidate", tensors_candidate},
          {"outputsComparable", outputs_comparable},
          {"logitsAllclose", logits_allclose},
          {"maxLogitAbsDiff", optional_json(max_logit_abs_diff)},
          {"maxLogitRelDiff", optional_json(max_logit_rel_diff)},
          {"layersAllclose", layers_allclose},
          {"layers", std::move(layer_list)},
          {"unmatchedLayers", unmatched_layers}};
}

}  // namespace modelgate::fingerprint
