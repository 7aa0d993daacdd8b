#pragma once
// Verdicts between a reference fingerprint and a candidate's, taken on the same probes.
#include "fingerprint/record.h"

#include <optional>
#include <string>
#include <vector>

namespace modelgate::fingerprint {

/// How a candidate relates to the reference, strongest first.
enum class Verdict { identical, equivalent, derived, unrelated };

/// "identical", "equivalent", "derived" or "unrelated".
std::string to_string(Verdict v);

/// One calibrated condition for "derived": metric `op` value, op ">=" or "<=".
struct Rule {
  std::string metric;
  std::string op;
  double value = 0;
};

/// Every threshold a verdict depends on, in one place.
struct Thresholds {
  /// Relative tolerance of "same value" for logits and layer means: float32 reorderings
  /// (traced vs scripted, CPU vs GPU without TF32) differ by ~1e-6 relative, so 1e-4 leaves
  /// two orders of margin while any real weight change (fp16 rounding is ~1e-3) exceeds it.
  double rtol = 1e-4;
  /// Absolute tolerance, multiplied by the largest |value| of the reference matrix, so that
  /// near-zero entries of a large-magnitude matrix are not held to relative precision.
  double atol = 1e-5;
  /// "derived" when any rule holds (a metric that could not be computed holds no rule).
  std::vector<Rule> derived;
  /// Where the rules come from (the calibration file), for the report.
  std::string source;
};

/// The metric names a rule may use, as the comparison report spells them.
const std::vector<std::string>& metric_names();

/// Parses a thresholds file (formatVersion 1: {"derived": {"combine": "any", "rules": [...]}},
/// as scripts/calibrate_fingerprints.py writes it). Throws std::invalid_argument naming
/// `source` and the bad field (unknown metric, op other than ">=" / "<=", non-numeric value).
Thresholds thresholds_from_json(const nlohmann::json& j, const std::string& source);

/// The thresholds calibrated on the model zoo: fingerprint/thresholds.json, compiled in.
const Thresholds& calibrated_thresholds();

/// Per-layer comparison (layers with the same name on both sides).
struct LayerComparison {
  std::string name;
  bool same_shape = false;               ///< activation shapes equal (LOD/LAD/allclose need it)
  std::optional<double> lod, lad, cka;   ///< see metrics.h
  double max_rel_diff = 0;               ///< max |cand − ref| / max |ref| over the channel means
  bool allclose = false;                 ///< every channel mean within rtol/atol
};

/// The similarity metrics, each empty where it cannot be computed (named as in the report).
struct Metrics {
  std::optional<double> output_agreement;       ///< outputAgreement: same top-1 on all probes
  std::optional<double> js_distance;            ///< jsDistance: mean JS distance of softmax outputs
  std::optional<double> boundary_agreement;     ///< boundaryAgreement: same top-1 on boundary probes
  std::optional<double> boundary_accuracy_gap;  ///< boundaryAccuracyGap: |acc_cand − acc_ref| vs their labels
  std::optional<double> lod, lad, cka;          ///< means over the layers that have them
  std::optional<double> weight_cosine;          ///< weightCosine: mean over name/shape-matched tensors
  std::optional<double> weight_rel_l2;          ///< weightRelL2: mean ‖cand − ref‖ / ‖ref‖
  std::optional<double> logit_correlation;      ///< logitCorrelation: class-centred Pearson
  /// The metric by its report name; throws std::invalid_argument for an unknown name.
  std::optional<double> get(const std::string& name) const;
};

/// A verdict and every metric it was derived from.
struct Comparison {
  Verdict verdict = Verdict::unrelated;
  Thresholds thresholds;
  bool weights_identical = false;     ///< root digests equal
  bool arch_identical = false;        ///< architecture digests equal
  int64_t tensors_matching = 0;       ///< names present in both with equal digests
  int64_t tensors_compared = 0;       ///< names present in both with equal shapes (weight metrics)
  int64_t tensors_reference = 0;
  int64_t tensors_candidate = 0;
  bool outputs_comparable = false;    ///< same logits shape
  bool logits_allclose = false;
  std::optional<double> max_logit_abs_diff;
  std::optional<double> max_logit_rel_diff;  ///< max |diff| / max |reference logit|
  bool layers_allclose = false;       ///< every same-shaped layer within tolerance (true when none)
  Metrics metrics;
  std::vector<std::string> rules_met; ///< the derived rules that held, as "metric op value"
  std::vector<LayerComparison> layers;
  std::vector<std::string> unmatched_layers;  ///< sorted names found on one side only
  /// JSON form: verdict, thresholds, metrics and every field above (camelCase).
  nlohmann::json to_json() const;
};

/// Compares a reference fingerprint with a candidate's fingerprint taken on the same probes;
/// throws std::invalid_argument if the probe specs differ.
///   identical:  same weights (root digests), same architecture, and outputs within tolerance —
///               equal weights under a rewritten forward() are not the same model.
///   equivalent: logits and every same-shaped layer's channel means within tolerance.
///   derived:    the logits are within tolerance but some layer is not (the same function under
///               permuted or re-parameterised weights), or any rule of t.derived holds.
///   unrelated:  otherwise.
Comparison compare(const Fingerprint& reference, const Fingerprint& candidate,
                   const Thresholds& t = calibrated_thresholds());

}  // namespace modelgate::fingerprint
