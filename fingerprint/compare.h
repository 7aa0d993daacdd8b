#pragma once
// Verdicts between a reference fingerprint and a candidate's, taken on the same probes.
#include "fingerprint/record.h"

#include <optional>

namespace modelgate::fingerprint {

/// How a candidate relates to the reference, strongest first.
enum class Verdict { identical, equivalent, derived, unrelated };

/// "identical", "equivalent", "derived" or "unrelated".
std::string to_string(Verdict v);

/// Every threshold a verdict depends on, in one place. The derived/unrelated values are a
/// first, provisional rule; a later calibration on a model zoo replaces them.
struct Thresholds {
  /// Relative tolerance of "same value" for logits and layer means: float32 reorderings
  /// (traced vs scripted, CPU vs GPU without TF32) differ by ~1e-6 relative, so 1e-4 leaves
  /// two orders of margin while any real weight change exceeds it.
  double rtol = 1e-4;
  /// Absolute tolerance, multiplied by the largest |value| of the reference vector, so that
  /// near-zero entries of a large-magnitude vector are not held to relative precision.
  double atol = 1e-5;
  /// Fraction of probes whose top-1 class must agree for a "derived" verdict by behaviour.
  double min_top_agreement = 0.9;
  /// Pearson correlation of the class-centred logits that must accompany top-1 agreement: two
  /// unrelated networks that both predict one class for every probe (common for untrained or
  /// off-distribution inputs) agree 100% by chance, but their input-dependent logit variation
  /// does not correlate.
  double min_logit_correlation = 0.5;
  /// Mean Pearson correlation of per-layer channel-mean vectors (layers with the same name and
  /// channel count) for a "derived" verdict between models with the same architecture hash;
  /// independently initialised layers correlate near 0, a fine-tuned copy stays near 1.
  double min_layer_correlation = 0.9;
};

/// Per-layer comparison of channel means.
struct LayerComparison {
  std::string name;
  int64_t channels = 0;
  /// Pearson correlation of the two channel-mean vectors; empty when fewer than 2 channels.
  /// When either vector is constant (correlation undefined) it is 1 if allclose, else 0.
  std::optional<double> correlation;
  /// max |candidate - reference| / max |reference| (1 when the reference is all zeros).
  double max_rel_diff = 0;
  /// Within rtol/atol everywhere.
  bool allclose = false;
};

/// A verdict and every metric it was derived from.
struct Comparison {
  Verdict verdict = Verdict::unrelated;
  Thresholds thresholds;
  bool weights_identical = false;     // root digests equal
  bool arch_identical = false;        // architecture digests equal
  int64_t tensors_matching = 0;       // names present in both with equal digests
  int64_t tensors_reference = 0;
  int64_t tensors_candidate = 0;
  bool outputs_comparable = false;    // same logits shape; the logit metrics need it
  bool logits_allclose = false;
  std::optional<double> top_agreement;       // fraction of probes with the same top-1 class (N×K, K ≥ 2)
  std::optional<double> max_logit_abs_diff;
  std::optional<double> max_logit_rel_diff;  // max |diff| / max |reference logit|
  std::optional<double> logit_correlation;   // Pearson over class-centred logits; empty if either is constant
  bool layers_allclose = false;       // every matched layer within tolerance (true when none match)
  std::optional<double> layer_correlation;  // mean over layers that have a correlation
  std::vector<LayerComparison> layers;      // reference layers with a same-named, same-shaped candidate layer
  std::vector<std::string> unmatched_layers;  // sorted names, from either side, without a same-shaped partner
  /// JSON form: verdict, thresholds, and every metric above (camelCase).
  nlohmann::json to_json() const;
};

/// Compares a reference fingerprint with a candidate's fingerprint taken on the same probes;
/// throws std::invalid_argument if the probe specs differ.
///   identical:  same weights (root digests), same architecture, and outputs within tolerance —
///               equal weights under a rewritten forward() are not the same model.
///   equivalent: logits and every matched layer's channel means within tolerance.
///   derived:    top-1 agreement and logit correlation at their thresholds, or the same
///               architecture with mean layer correlation at its threshold.
///   unrelated:  otherwise.
Comparison compare(const Fingerprint& reference, const Fingerprint& candidate,
                   const Thresholds& t = {});

}  // namespace modelgate::fingerprint
