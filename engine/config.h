#pragma once
// The job file: a multi-document YAML file in the security.nootropic.ai/v1 dialect. One
// ValidationJob document names the models, the dataset and the report location; the seed
// manifests (AdversarialTesting, RobustnessTesting, ModelFingerprinting,
// ModelVulnerabilityScanning) say what to evaluate.
#include "engine/plans.h"
#include "engine/severity.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace modelgate::engine {

/// An output format of `validate`, written beside the JSON report with the same stem.
enum class ReportFormat { json, junit, prometheus, html };
std::string to_string(ReportFormat f);
/// The file extension of a format: .json, .xml, .prom, .html.
std::string extension(ReportFormat f);

struct ModelEntry {
  std::string name;
  std::filesystem::path path;  ///< resolved against the job file's folder
};

/// A manifest document as the report lists it.
struct ManifestInfo {
  std::string kind;
  std::string name;
  bool handled = false;
};

struct JobConfig {
  std::filesystem::path file;  ///< the job file itself
  std::string name;            ///< ValidationJob metadata.name
  std::vector<ModelEntry> models;
  std::filesystem::path dataset;
  int64_t batch_size = 128;
  std::string device = "auto";  ///< auto | cpu | cuda
  uint64_t seed = 0;
  std::vector<ReportFormat> report_formats{ReportFormat::json};  ///< spec.reports.format (json always included)
  std::filesystem::path report_location;  ///< resolved folder for timestamped reports
  std::vector<AttackPlan> attacks;          ///< one per (attack, ε), in job order
  std::vector<CorruptionPlan> corruptions;  ///< one per (corruption, level), in job order
  std::map<Severity, Action> actions;  ///< severity → action (seed: critical block, high review)
  /// The action a finding of severity `s` takes: the mapped one, else warn.
  Action action_for(Severity s) const;
  int64_t fingerprint_probes = 64;     ///< synthetic probes (ModelFingerprinting spec.probes)
  std::vector<ManifestInfo> manifests;
  std::vector<std::string> warnings;  ///< unknown kinds and fields, and similar

};

/// Reads and checks a job file. Throws InputError naming the file, the document and the
/// field for anything it cannot use; unknown kinds and fields become warnings.
JobConfig load_job(const std::filesystem::path& file);

}  // namespace modelgate::engine
