#pragma once
// The job file's field readers: each names the file, line, document and field of what it
// refuses (InputError) and collects unknown fields as warnings. Shared by the readers of the
// job's documents (config.cpp, config_dataset.cpp).
#include "engine/errors.h"
#include "engine/severity.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace modelgate::engine::fields {
namespace fs = std::filesystem;

// Names one document of the job file in messages: "job.yaml: AdversarialTesting 'adv'".
struct Doc {
  const fs::path& file;
  std::string label;
  std::vector<std::string>& warnings;

  [[noreturn]] void fail(const YAML::Node& at, const std::string& field,
                         const std::string& what) const {
    const auto line = at.Mark().line >= 0 ? fmt::format(":{}", at.Mark().line + 1) : "";
    throw InputError(fmt::format("{}{}: {}: {}: {}", file.string(), line, label, field, what));
  }

  void warn_unknown(const YAML::Node& map, const std::string& path,
                    const std::set<std::string>& known) const {
    if (!map.IsMap()) return;
    for (const auto& kv : map) {
      if (!kv.first.IsScalar())
        fail(kv.first, path.empty() ? "document" : path.substr(0, path.size() - 1),
             "expected a plain name as the key, not a list or a map");
      const auto key = kv.first.Scalar();
      if (!known.count(key))
        warnings.push_back(fmt::format("{}:{}: {}: unknown field '{}{}' ignored", file.string(),
                                       kv.first.Mark().line + 1, label, path, key));
    }
  }
};

std::string scalar_text(const YAML::Node& n);
/// A number, also written as a fraction ("8/255"), the way robustness papers state epsilons.
double number(const Doc& d, const YAML::Node& n, const std::string& field);
/// A number in [lo, hi] ((lo, hi] with lo_open).
double number_in(const Doc& d, const YAML::Node& n, const std::string& field, double lo, double hi, bool lo_open);
/// An integer from lo up to a limit; values past the limit are refused as such, not as a typo.
int64_t integer(const Doc& d, const YAML::Node& n, const std::string& field, int64_t lo, int64_t limit = 1000000000);
bool boolean(const Doc& d, const YAML::Node& n, const std::string& field);
std::string text(const Doc& d, const YAML::Node& n, const std::string& field);
/// A scalar or a list of them, each in (lo, hi].
std::vector<double> number_list(const Doc& d, const YAML::Node& n, const std::string& field, double lo, double hi);
Severity severity(const Doc& d, const YAML::Node& n, const std::string& field);
/// Corruption severities: 1..`highest`, or a list of them without repeats.
std::vector<int64_t> severity_levels(const Doc& d, const YAML::Node& n, const std::string& field, int64_t highest);
Action action(const Doc& d, const YAML::Node& n, const std::string& field);
/// "8Gi", "512Mi", "1G", "4096" (bytes): a size as Kubernetes writes it.
uint64_t byte_size(const Doc& d, const YAML::Node& n, const std::string& field);
/// parent[key], or a "missing" error naming path + key.
YAML::Node require(const Doc& d, const YAML::Node& parent, const std::string& key, const std::string& path);
/// A path from the job file, against the job file's folder; "~" is $HOME.
fs::path resolve(const fs::path& base, const std::string& p);

}  // namespace modelgate::engine::fields
