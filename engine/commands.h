#pragma once
// The subcommands behind the CLI. Each returns its exit code and throws InputError (exit 3)
// or another exception (exit 4); engine/cli.cpp turns those into messages.
#include "engine/progress.h"

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace modelgate::engine {

struct ValidateArgs {
  std::string job;
  std::string report;  ///< empty: timestamped file in the job's report location
  std::string junit, prometheus, html;  ///< fixed paths for these formats (empty: beside the report if the job asks)
  std::optional<std::string> device;
  std::optional<uint64_t> seed;
  std::string sign;     ///< private key: sign the report
  std::string records;  ///< write per-sample attack records (JSON Lines) here
  std::optional<std::string> baseline;  ///< auto, none or a report path; overrides spec.baseline.report
  std::optional<std::string> budget;    ///< a duration such as 90m; overrides spec.budget
  bool run_past_estimate = false;       ///< run a job estimated over its time limits anyway
  const std::atomic<int>* signal = nullptr;  ///< the termination flag (install_termination_handlers)
};

struct DiffArgs {
  std::string before, after;  ///< two JSON reports
  double max_drop = 0.02;     ///< absolute drop beyond which a check counts as a regression
};

struct RenderArgs {
  std::string report;                          ///< an earlier JSON report
  std::string html, junit, prometheus;         ///< formats to write (empty: not asked for)
  bool summary = false;                        ///< print the terminal summary (also when no format is asked for)
};

struct FingerprintArgs {
  std::string model, out, data;
  int64_t probes = 64;
  int64_t real = 64;
  uint64_t seed = 0;
  std::vector<int64_t> input_shape;
  std::string device = "auto";
  std::string sign;  ///< private key: sign the fingerprint
  std::vector<std::string> layers;  ///< module paths to tap; empty: the top-level stages
  int64_t boundary = 32;            ///< boundary probes (adversarial examples on this model)
  double boundary_eps = 0.1;        ///< L∞ radius of the PGD making them
  int64_t boundary_steps = 20;
};

struct CompareArgs {
  std::string reference, candidate, report;
  std::string device = "auto";
  std::string sign;    ///< private key: sign the comparison report
  std::string verify;  ///< public key: refuse a reference fingerprint it did not sign
  std::string thresholds;  ///< thresholds file replacing the calibrated rules
};

struct KeygenArgs {
  std::string out;         ///< path prefix: writes <out>.key and <out>.pub (or only <out>.key)
  bool symmetric = false;  ///< an AES-256 key for encrypting models instead of an Ed25519 pair
};

struct CryptArgs {
  std::string model;  ///< the file to encrypt or decrypt
  std::string key;    ///< a key file from 'modelgate keygen --symmetric'
  std::string out;    ///< where the result goes
};

struct ScanArgs {
  std::vector<std::string> models;
  std::string report;  ///< write the scan as JSON here (empty: not written)
  std::string job;     ///< take limits, accepted findings and severity actions from this job file
  std::string key;     ///< the key of the encrypted models among `models` (empty: none)
};

struct InspectArgs {
  std::string model;
  bool json = false;
};

struct DatasetArgs {
  std::string job;         ///< a job file whose spec.dataset is read
  std::string export_dir;  ///< write inputs.npy and labels.npy here (empty: not written)
  std::string corrupt;     ///< export under this benchmark corruption (empty: clean)
  int severity = 0;        ///< its severity, 1..5
  std::string parameters;  ///< cifar or imagenet (empty: by image size)
  std::optional<uint64_t> seed;  ///< the corruption's seed (default: the job's spec.seed)
  bool json = false;
};

struct SignArgs {
  std::string file;  ///< a JSON document (a thresholds file, a fingerprint)
  std::string key;   ///< Ed25519 private key from 'modelgate keygen'
  std::string out;   ///< where to write the signed document (empty: replace `file`)
};

/// `modelgate validate`: runs the job, prints a summary, writes the report atomically.
int cmd_validate(const ValidateArgs& args, const Progress& progress);
/// `modelgate render`: renders an earlier JSON report again (HTML, JUnit, Prometheus, summary).
int cmd_render(const RenderArgs& args);
/// `modelgate diff`: the comparison of two reports as a table; 0 no drop beyond the limit,
/// 1 a drop beyond it, 3 invalid input.
int cmd_diff(const DiffArgs& args);
/// `modelgate fingerprint`: writes a fingerprint file.
int cmd_fingerprint(const FingerprintArgs& args, const Progress& progress);
/// `modelgate compare`: prints the verdict of a candidate (a model, or a fingerprint file taken
/// on the same probes) against a reference fingerprint.
int cmd_compare(const CompareArgs& args, const Progress& progress);
/// `modelgate keygen`: writes an Ed25519 key pair, or with --symmetric an AES-256 key.
int cmd_keygen(const KeygenArgs& args);
/// `modelgate encrypt`: encrypts a model file at rest (AES-256-GCM) without scanning or loading it.
int cmd_encrypt(const CryptArgs& args);
/// `modelgate decrypt`: writes the plaintext of an encrypted model (mode 0600).
int cmd_decrypt(const CryptArgs& args);
/// `modelgate scan`: scans model files before anything loads them; 0 clean, 1 review, 2 block,
/// 3 a file that cannot be scanned.
int cmd_scan(const ScanArgs& args);
/// `modelgate inspect`: describes a model (exit 2 when its scan blocks it).
int cmd_inspect(const InspectArgs& args);
/// `modelgate dataset`: what validate reads from a job's dataset (format, samples, shape,
/// classes, skipped files, memory), optionally exported as float32 .npy arrays.
int cmd_dataset(const DatasetArgs& args, const Progress& progress);
/// `modelgate sign`: adds (or replaces) the inline Ed25519 signature of a JSON document, so that
/// `compare --verify` can check inputs no other command signs, such as a thresholds file.
int cmd_sign(const SignArgs& args);

}  // namespace modelgate::engine
