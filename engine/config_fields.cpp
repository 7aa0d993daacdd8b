#include "engine/config_fields.h"

#include "engine/limits.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace modelgate::engine::fields {


std::string scalar_text(const YAML::Node& n) { return n.IsScalar() ? n.Scalar() : "a non-scalar"; }

// Numbers may be written as fractions ("8/255"), the way robustness papers state epsilons.
double number(const Doc& d, const YAML::Node& n, const std::string& field) {
  if (!n.IsScalar()) d.fail(n, field, "expected a number");
  const std::string s = n.Scalar();
  try {
    const auto slash = s.find('/');
    size_t used = 0;
    double v;
    if (slash != std::string::npos) {
      const double num = std::stod(s.substr(0, slash), &used);
      if (used != slash) throw std::invalid_argument(s);
      const auto rest = s.substr(slash + 1);
      const double den = std::stod(rest, &used);
      if (used != rest.size() || den == 0) throw std::invalid_argument(s);
      v = num / den;
    } else {
      v = std::stod(s, &used);
      if (used != s.size()) throw std::invalid_argument(s);
    }
    if (!std::isfinite(v)) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    d.fail(n, field, fmt::format("expected a number, got '{}'", s));
  }
}

double number_in(const Doc& d, const YAML::Node& n, const std::string& field, double lo, double hi,
                 bool lo_open) {
  const double v = number(d, n, field);
  if (v > hi || v < lo || (lo_open && v == lo))
    d.fail(n, field, fmt::format("expected a value in {}{}, {}], got {}", lo_open ? "(" : "[", lo,
                                 hi, scalar_text(n)));
  return v;
}

// An integer from lo up to a limit; values past the limit are refused as such, not as a typo.
int64_t integer(const Doc& d, const YAML::Node& n, const std::string& field, int64_t lo, int64_t limit) {
  const double v = number(d, n, field);
  if (v != std::floor(v) || v < static_cast<double>(lo))
    d.fail(n, field, fmt::format("expected an integer ≥ {}, got {}", lo, scalar_text(n)));
  if (v > static_cast<double>(limit)) d.fail(n, field, fmt::format("{} is over the limit of {}", scalar_text(n), limit));
  return static_cast<int64_t>(v);
}

bool boolean(const Doc& d, const YAML::Node& n, const std::string& field) {
  try {
    return n.as<bool>();
  } catch (const YAML::Exception&) {
    d.fail(n, field, fmt::format("expected true or false, got '{}'", scalar_text(n)));
  }
}

std::string text(const Doc& d, const YAML::Node& n, const std::string& field) {
  if (!n.IsScalar()) d.fail(n, field, "expected a string");
  return n.Scalar();
}

// A scalar or a list of them, each in (lo, hi].
std::vector<double> number_list(const Doc& d, const YAML::Node& n, const std::string& field,
                                double lo, double hi) {
  std::vector<double> out;
  if (n.IsSequence()) {
    if (n.size() == 0) d.fail(n, field, "expected at least one value");
    if (n.size() > limits::kSweepValues)
      d.fail(n, field, fmt::format("has {} values, over the limit of {} per sweep", n.size(), limits::kSweepValues));
    for (size_t i = 0; i < n.size(); ++i)
      out.push_back(number_in(d, n[i], fmt::format("{}[{}]", field, i), lo, hi, true));
  } else {
    out.push_back(number_in(d, n, field, lo, hi, true));
  }
  return out;
}

std::vector<int64_t> severity_levels(const Doc& d, const YAML::Node& n, const std::string& field, int64_t highest) {
  std::vector<int64_t> levels;
  const auto one = [&](const YAML::Node& v, const std::string& f) {
    const auto level = integer(d, v, f, 1, highest);
    if (std::find(levels.begin(), levels.end(), level) != levels.end())
      d.fail(v, f, fmt::format("severity {} is listed twice", level));
    levels.push_back(level);
  };
  if (n.IsSequence() && n.size() > 0)
    for (size_t i = 0; i < n.size(); ++i) one(n[i], fmt::format("{}[{}]", field, i));
  else if (n.IsScalar()) one(n, field);
  else d.fail(n, field, fmt::format("expected 1 to {}, or a list such as [1, 3, 5]", highest));
  return levels;
}

Severity severity(const Doc& d, const YAML::Node& n, const std::string& field) {
  const auto s = text(d, n, field);
  if (const auto v = severity_from_string(s)) return *v;
  d.fail(n, field, fmt::format("expected critical, high, medium or low, got '{}'", s));
}

Action action(const Doc& d, const YAML::Node& n, const std::string& field) {
  const auto s = text(d, n, field);
  if (const auto v = action_from_string(s)) return *v;
  d.fail(n, field, fmt::format("expected block, review, warn or pass, got '{}'", s));
}

// "8Gi", "512Mi", "1G", "4096" (bytes): a size as Kubernetes writes it.
uint64_t byte_size(const Doc& d, const YAML::Node& n, const std::string& field) {
  const auto s = text(d, n, field);
  static const std::pair<const char*, double> kUnits[] = {{"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0},
                                                          {"Ti", 1099511627776.0}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}};
  double scale = 1;
  std::string digits = s;
  for (const auto& [suffix, factor] : kUnits) {
    const std::string u(suffix);
    if (s.size() > u.size() && s.compare(s.size() - u.size(), u.size(), u) == 0) {
      digits = s.substr(0, s.size() - u.size());
      scale = factor;
      break;
    }
  }
  double v = 0;
  try {
    size_t used = 0;
    v = std::stod(digits, &used);
    if (used != digits.size()) throw std::invalid_argument(s);
  } catch (const std::logic_error&) {
    d.fail(n, field, fmt::format("expected a size such as 8Gi, 512Mi or a number of bytes, got '{}'", s));
  }
  if (!(v * scale >= 1) || v * scale > 1.8e19)
    d.fail(n, field, fmt::format("expected a positive size, got '{}'", s));
  return static_cast<uint64_t>(v * scale);
}

YAML::Node require(const Doc& d, const YAML::Node& parent, const std::string& key,
                   const std::string& path) {
  YAML::Node n = parent[key];
  if (!n) d.fail(parent, path + key, "missing");
  return n;
}

fs::path resolve(const fs::path& base, const std::string& p) {
  fs::path path(p);
  if (!p.empty() && p[0] == '~') {
    if (const char* home = std::getenv("HOME")) path = fs::path(home) / p.substr(p.size() > 1 ? 2 : 1);
  }
  return (path.is_absolute() ? path : base / path).lexically_normal();
}

}  // namespace modelgate::engine::fields
