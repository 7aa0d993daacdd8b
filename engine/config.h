#pragma once
// The job file: a multi-document YAML file in the security.nootropic.ai/v1 dialect. One
// ValidationJob document names the models, the dataset and the report location; the seed
// manifests (AdversarialTesting, RobustnessTesting, ModelFingerprinting,
// ModelVulnerabilityScanning) say what to evaluate.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace modelgate::engine {

enum class Severity { critical, high, medium, low };
/// What a finding of a given severity does to the verdict. Ordered from mildest to worst.
enum class Action { pass, warn, review, block };

std::string to_string(Severity s);
std::string to_string(Action a);

/// One attack of an AdversarialTesting manifest; a list of epsilons is a sweep.
struct AttackSpec {
  std::string type;                 ///< "fgsm", "pgd" or "apgd"
  std::string norm = "linf";        ///< "linf" or "l2"
  std::string loss = "ce";          ///< apgd: "ce" or "dlr"
  std::vector<double> epsilons;     ///< at least one; in (0, 1] for linf
  int64_t steps = 1;                ///< PGD steps (1 for FGSM)
  std::optional<double> step_size;  ///< PGD alpha; unset means 2.5·epsilon/steps
  bool random_start = false;        ///< PGD seeded uniform start (default true for PGD)
  int64_t restarts = 1;             ///< PGD restarts
  std::string target = "none";      ///< none | label | leastLikely | random
  int64_t target_label = 0;         ///< the class for target "label"
  bool active_set = true;           ///< fooled samples leave the batch (pgd and apgd)
  std::optional<double> min_accuracy;
  Severity severity = Severity::high;
  std::string manifest;             ///< metadata.name of the manifest it came from
};

/// One test of a RobustnessTesting manifest.
struct CorruptionSpec {
  std::string type;            ///< "noise" or "blur"
  std::vector<double> levels;  ///< noise standard deviations (noise only)
  int64_t kernel = 0;          ///< odd k of a k×k blur (blur only)
  double sigma = 0;            ///< blur sigma; ≤ 0 means OpenCV's default for k
  std::optional<double> min_accuracy;
  Severity severity = Severity::high;
  std::string manifest;
};

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
  std::string report_format = "json";
  std::filesystem::path report_location;  ///< resolved folder for timestamped reports
  std::vector<AttackSpec> attacks;
  std::vector<CorruptionSpec> corruptions;
  std::map<Severity, Action> actions;  ///< severity → action (seed: critical block, high review)
  int64_t fingerprint_probes = 64;     ///< synthetic probes (ModelFingerprinting spec.probes)
  std::vector<ManifestInfo> manifests;
  std::vector<std::string> warnings;  ///< unknown kinds and fields, and similar
};

/// Reads and checks a job file. Throws InputError naming the file, the document and the
/// field for anything it cannot use; unknown kinds and fields become warnings.
JobConfig load_job(const std::filesystem::path& file);

}  // namespace modelgate::engine
