#include "fingerprint/metrics.h"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>

namespace modelgate::fingerprint {
namespace {

using MatrixMap = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

MatrixMap view(const Matrix& m) { return MatrixMap(m.values.data(), m.rows, m.cols); }

bool same_shape(const Matrix& a, const Matrix& b) {
  return a.rows == b.rows && a.cols == b.cols && a.values.size() == size_t(a.rows * a.cols) &&
         b.values.size() == a.values.size();
}

int64_t argmax_row(const Matrix& m, int64_t r) {
  const float* row = m.values.data() + r * m.cols;
  return std::max_element(row, row + m.cols) - row;
}

// Softmax of one row in double, stable under large logits.
std::vector<double> softmax_row(const Matrix& m, int64_t r) {
  const float* row = m.values.data() + r * m.cols;
  const double top = *std::max_element(row, row + m.cols);
  std::vector<double> p(size_t(m.cols));
  double sum = 0;
  for (int64_t k = 0; k < m.cols; ++k) sum += p[size_t(k)] = std::exp(double(row[k]) - top);
  for (double& v : p) v /= sum;
  return p;
}

// The matrix in double with each column's mean over the rows removed.
Eigen::MatrixXd centred(const Matrix& m) {
  const Eigen::MatrixXd x = view(m).cast<double>();
  return x.rowwise() - x.colwise().mean();
}

double median(std::vector<float> v) {
  const auto mid = v.begin() + std::ptrdiff_t(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

}  // namespace

std::optional<double> top1_agreement(const Matrix& a, const Matrix& b, int64_t begin, int64_t end) {
  if (!same_shape(a, b) || a.cols < 1 || begin >= end || end > a.rows) return std::nullopt;
  int64_t agree = 0;
  for (int64_t r = begin; r < end; ++r) agree += argmax_row(a, r) == argmax_row(b, r);
  return double(agree) / double(end - begin);
}

std::optional<double> accuracy(const Matrix& logits, const std::vector<int64_t>& labels, int64_t begin, int64_t end) {
  if (begin >= end || end > logits.rows || int64_t(labels.size()) < end - begin || logits.cols < 1) return std::nullopt;
  int64_t correct = 0;
  for (int64_t r = begin; r < end; ++r) correct += argmax_row(logits, r) == labels[size_t(r - begin)];
  return double(correct) / double(end - begin);
}

std::optional<double> js_distance(const Matrix& a, const Matrix& b) {
  if (!same_shape(a, b) || a.rows == 0 || a.cols == 0) return std::nullopt;
  double total = 0;
  for (int64_t r = 0; r < a.rows; ++r) {
    const auto p = softmax_row(a, r), q = softmax_row(b, r);
    double js = 0;
    for (size_t k = 0; k < p.size(); ++k) {
      const double m = 0.5 * (p[k] + q[k]);
      if (p[k] > 0) js += 0.5 * p[k] * std::log2(p[k] / m);
      if (q[k] > 0) js += 0.5 * q[k] * std::log2(q[k] / m);
    }
    total += std::sqrt(std::max(0.0, js));
  }
  return total / double(a.rows);
}

std::optional<double> centred_correlation(const Matrix& a, const Matrix& b) {
  if (!same_shape(a, b) || a.rows < 2) return std::nullopt;
  const Eigen::MatrixXd xc = centred(a), yc = centred(b);
  const double sxx = xc.squaredNorm(), syy = yc.squaredNorm();
  if (!(sxx > 0) || !(syy > 0)) return std::nullopt;
  return (xc.array() * yc.array()).sum() / std::sqrt(sxx * syy);
}

std::optional<double> layer_output_distance(const Matrix& a, const Matrix& b) {
  if (!same_shape(a, b)) return std::nullopt;
  const double na = view(a).cast<double>().norm();
  const double diff = (view(a).cast<double>() - view(b).cast<double>()).norm();
  if (na == 0) return diff == 0 ? std::optional<double>(0.0) : std::nullopt;
  return diff / na;
}

std::optional<double> layer_activation_distance(const Matrix& a, const Matrix& b) {
  if (!same_shape(a, b) || a.values.empty()) return std::nullopt;
  const double ta = median(a.values), tb = median(b.values);
  int64_t differ = 0;
  for (size_t i = 0; i < a.values.size(); ++i) differ += (a.values[i] > ta) != (b.values[i] > tb);
  return double(differ) / double(a.values.size());
}

std::optional<double> linear_cka(const Matrix& a, const Matrix& b) {
  if (a.rows != b.rows || a.rows < 2 || a.cols == 0 || b.cols == 0) return std::nullopt;
  const Eigen::MatrixXd xc = centred(a), yc = centred(b);
  // With few rows the Gram matrices are the cheap side: ‖XᵀY‖²_F = ⟨XXᵀ, YYᵀ⟩.
  const Eigen::MatrixXd kx = xc * xc.transpose(), ky = yc * yc.transpose();
  const double xy = (kx.array() * ky.array()).sum(), xx = kx.norm(), yy = ky.norm();
  if (!(xx > 0) || !(yy > 0)) return std::nullopt;
  return xy / (xx * yy);
}

double sketch_cosine(const std::string& a, const std::string& b, int64_t bits) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  int64_t hamming = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) hamming += __builtin_popcount(unsigned(nibble(a[i]) ^ nibble(b[i])));
  return std::cos(M_PI * double(hamming) / double(bits));
}

std::optional<double> relative_l2(double norm_a, double norm_b, double cosine) {
  if (!(norm_a > 0)) return std::nullopt;
  const double squared = norm_a * norm_a + norm_b * norm_b - 2 * norm_a * norm_b * cosine;
  return std::sqrt(std::max(0.0, squared)) / norm_a;
}

}  // namespace modelgate::fingerprint
