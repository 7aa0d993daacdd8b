#include "fingerprint/compare.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
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

// Pearson correlation over paired samples; empty when either side has no variance.
std::optional<double> pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = a.size();
  if (n < 2 || b.size() != n) return std::nullopt;
  double ma = 0, mb = 0;
  for (size_t i = 0; i < n; ++i) ma += a[i], mb += b[i];
  ma /= double(n);
  mb /= double(n);
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; ++i) {
    const double da = a[i] - ma, db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (!(saa > 0) || !(sbb > 0)) return std::nullopt;
  return sab / std::sqrt(saa * sbb);
}

// The logits as N rows of K, when the output has a leading batch dimension.
struct Rows {
  int64_t n = 0, k = 0;
};

Rows rows_of(const std::vector<int64_t>& shape, size_t values) {
  if (shape.empty() || shape[0] <= 0) return {};
  return {shape[0], int64_t(values) / shape[0]};
}

double top_agreement(const std::vector<float>& a, const std::vector<float>& b, Rows r) {
  int64_t agree = 0;
  for (int64_t i = 0; i < r.n; ++i) {
    const auto ra = a.begin() + i * r.k, rb = b.begin() + i * r.k;
    if (std::max_element(ra, ra + r.k) - ra == std::max_element(rb, rb + r.k) - rb) ++agree;
  }
  return double(agree) / double(r.n);
}

// Subtracting each class's mean over the probes leaves only how the logits move with the input;
// constant class offsets (biases) would otherwise dominate the correlation of unrelated nets.
std::vector<double> class_centred(const std::vector<float>& v, Rows r) {
  std::vector<double> out(v.begin(), v.end());
  for (int64_t k = 0; k < r.k; ++k) {
    double mean = 0;
    for (int64_t i = 0; i < r.n; ++i) mean += out[i * r.k + k];
    mean /= double(r.n);
    for (int64_t i = 0; i < r.n; ++i) out[i * r.k + k] -= mean;
  }
  return out;
}

LayerComparison compare_layer(const LayerSummary& ref, const LayerSummary& cand, const Thresholds& t) {
  LayerComparison lc;
  lc.name = ref.name;
  lc.channels = int64_t(ref.channel_mean.size());
  lc.allclose = allclose(ref.channel_mean, cand.channel_mean, t);
  lc.max_rel_diff = max_abs_diff(ref.channel_mean, cand.channel_mean) / scale_of(ref.channel_mean);
  if (lc.channels >= 2) {
    const std::vector<double> a(ref.channel_mean.begin(), ref.channel_mean.end());
    const std::vector<double> b(cand.channel_mean.begin(), cand.channel_mean.end());
    lc.correlation = pearson(a, b);
    if (!lc.correlation) lc.correlation = lc.allclose ? 1.0 : 0.0;
  }
  return lc;
}

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

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

Comparison compare(const Fingerprint& reference, const Fingerprint& candidate, const Thresholds& t) {
  if (!same_probes(reference.probes, candidate.probes)) {
    throw std::invalid_argument(
        "compare: the candidate's fingerprint was taken on other probes than the reference's "
        "(seed, synthetic, inputShape, dataSha256 and real must agree); fingerprint the candidate "
        "with the reference's probe spec");
  }
  Comparison c;
  c.thresholds = t;
  c.weights_identical = reference.root_sha256 == candidate.root_sha256;
  c.arch_identical = reference.arch_sha256 == candidate.arch_sha256;
  c.tensors_reference = int64_t(reference.tensors.size());
  c.tensors_candidate = int64_t(candidate.tensors.size());
  for (const auto& [name, digest] : reference.tensors) {
    const auto it = candidate.tensors.find(name);
    if (it != candidate.tensors.end() && it->second == digest) ++c.tensors_matching;
  }

  c.outputs_comparable = reference.output_shape == candidate.output_shape &&
                         reference.logits.size() == candidate.logits.size();
  if (c.outputs_comparable) {
    c.logits_allclose = allclose(reference.logits, candidate.logits, t);
    c.max_logit_abs_diff = max_abs_diff(reference.logits, candidate.logits);
    c.max_logit_rel_diff = *c.max_logit_abs_diff / scale_of(reference.logits);
    const Rows rows = rows_of(reference.output_shape, reference.logits.size());
    if (rows.n > 0 && rows.k >= 2) c.top_agreement = top_agreement(reference.logits, candidate.logits, rows);
    if (rows.n > 0 && rows.k >= 1) {
      c.logit_correlation =
          pearson(class_centred(reference.logits, rows), class_centred(candidate.logits, rows));
    }
  }

  std::map<std::string, const LayerSummary*> cand_layers;
  for (const LayerSummary& l : candidate.layers) cand_layers[l.name] = &l;
  std::set<std::string> unmatched;
  c.layers_allclose = true;
  double correlation_sum = 0;
  int64_t correlated = 0;
  for (const LayerSummary& l : reference.layers) {
    const auto it = cand_layers.find(l.name);
    if (it == cand_layers.end() || it->second->shape != l.shape) {
      unmatched.insert(l.name);
      continue;
    }
    LayerComparison lc = compare_layer(l, *it->second, t);
    c.layers_allclose = c.layers_allclose && lc.allclose;
    if (lc.correlation) correlation_sum += *lc.correlation, ++correlated;
    c.layers.push_back(std::move(lc));
    cand_layers.erase(it);
  }
  for (const auto& [name, layer] : cand_layers) unmatched.insert(name);
  c.unmatched_layers.assign(unmatched.begin(), unmatched.end());
  if (correlated > 0) c.layer_correlation = correlation_sum / double(correlated);

  const bool same_behaviour = c.logits_allclose && c.layers_allclose;
  const bool agrees_by_output = c.top_agreement && *c.top_agreement >= t.min_top_agreement &&
                                c.logit_correlation && *c.logit_correlation >= t.min_logit_correlation;
  const bool agrees_by_layers =
      c.arch_identical && c.layer_correlation && *c.layer_correlation >= t.min_layer_correlation;
  // Empty manifests hash alike, so weightless models are never "identical" by digest alone.
  if (c.weights_identical && c.arch_identical && !reference.tensors.empty() && c.logits_allclose) {
    c.verdict = Verdict::identical;
  } else if (same_behaviour) {
    c.verdict = Verdict::equivalent;
  } else if (agrees_by_output || agrees_by_layers) {
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
                          {"channels", l.channels},
                          {"correlation", optional_json(l.correlation)},
                          {"maxRelDiff", l.max_rel_diff},
                          {"allclose", l.allclose}});
  }
  return {{"verdict", to_string(verdict)},
          {"thresholds",
           {{"rtol", thresholds.rtol},
            {"atol", thresholds.atol},
            {"minTopAgreement", thresholds.min_top_agreement},
            {"minLogitCorrelation", thresholds.min_logit_correlation},
            {"minLayerCorrelation", thresholds.min_layer_correlation}}},
          {"weightsIdentical", weights_identical},
          {"archIdentical", arch_identical},
          {"tensorsMatching", tensors_matching},
          {"tensorsReference", tensors_reference},
          {"tensorsCandidate", tensors_candidate},
          {"outputsComparable", outputs_comparable},
          {"logitsAllclose", logits_allclose},
          {"topAgreement", optional_json(top_agreement)},
          {"maxLogitAbsDiff", optional_json(max_logit_abs_diff)},
          {"maxLogitRelDiff", optional_json(max_logit_rel_diff)},
          {"logitCorrelation", optional_json(logit_correlation)},
          {"layersAllclose", layers_allclose},
          {"layerCorrelation", optional_json(layer_correlation)},
          {"layers", std::move(layer_list)},
          {"unmatchedLayers", unmatched_layers}};
}

}  // namespace modelgate::fingerprint
