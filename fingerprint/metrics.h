#pragma once
// The similarity metrics a comparison reports, on the plain data of two fingerprints.
// Torch-free: comparing two fingerprint files needs no model and no LibTorch.
#include "fingerprint/record.h"

#include <optional>
#include <string>

namespace modelgate::fingerprint {

/// Fraction of rows [begin, end) whose arg-max column agrees (first maximum on ties); empty
/// when the range is empty or the matrices' shapes differ.
std::optional<double> top1_agreement(const Matrix& a, const Matrix& b, int64_t begin, int64_t end);

/// Fraction of rows [begin, end) of `logits` whose arg-max equals labels[row - begin]; empty
/// for an empty range.
std::optional<double> accuracy(const Matrix& logits, const std::vector<int64_t>& labels, int64_t begin, int64_t end);

/// Mean over rows of the Jensen-Shannon distance (square root of the divergence, base 2, so in
/// [0, 1]) between the rows' softmax distributions; empty when shapes differ or are empty.
std::optional<double> js_distance(const Matrix& a, const Matrix& b);

/// Pearson correlation of the two matrices' class-centred values (each column's mean over the
/// rows removed), so only how outputs move with the input counts; empty if either is constant.
std::optional<double> centred_correlation(const Matrix& a, const Matrix& b);

/// DeepJudge's layer output distance, normalised: ‖A − B‖_F / ‖A‖_F over same-shaped matrices
/// (0 when both are all zeros, empty when only A is).
std::optional<double> layer_output_distance(const Matrix& a, const Matrix& b);

/// DeepJudge's layer activation distance: the fraction of (probe, channel) entries whose
/// activation pattern differs, a channel being active when its value exceeds the median of its
/// own matrix (so the rule adapts to each layer's and each model's scale).
std::optional<double> layer_activation_distance(const Matrix& a, const Matrix& b);

/// Linear CKA (Kornblith et al. 2019) of two representations of the same rows; the column
/// counts may differ. Invariant to channel permutation and isotropic scaling. Empty when the
/// row counts differ, are below 2, or either side is constant.
std::optional<double> linear_cka(const Matrix& a, const Matrix& b);

/// Cosine of two weight tensors estimated from their sign sketches (hex, `bits` bits):
/// cos(π · hamming / bits), the SimHash estimate (Charikar 2002).
double sketch_cosine(const std::string& a, const std::string& b, int64_t bits);

/// ‖b − a‖ / ‖a‖ from the norms and the cosine (law of cosines); empty when ‖a‖ = 0.
std::optional<double> relative_l2(double norm_a, double norm_b, double cosine);

}  // namespace modelgate::fingerprint
