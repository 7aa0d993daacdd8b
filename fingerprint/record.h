#pragma once
// The fingerprint record and its JSON form (schema: fingerprint/schema/fingerprint.schema.json).
// Free of torch so that tools that only read, write or compare fingerprints stay cheap to compile.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace modelgate::fingerprint {

/// A row-major float32 matrix, e.g. probes × channels. In JSON:
/// {"rows": R, "cols": C, "float32": base64 of the R·C little-endian floats}.
struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<float> values;
  float at(int64_t r, int64_t c) const { return values[size_t(r * cols + c)]; }
};

/// Adversarial examples made on the reference model that sit just past its decision boundary
/// (the DeepJudge / IPGuard probes). Made once, stored in the fingerprint, and replayed.
struct BoundaryProbes {
  int64_t count = 0;     ///< requested; 0 disables them
  double epsilon = 0.1;  ///< L∞ radius of the PGD that makes them
  int64_t steps = 20;    ///< PGD steps; a sample stops at its first misclassified iterate
  std::vector<int64_t> labels;    ///< the reference's clean prediction on each probe's source
  std::vector<int64_t> sources;   ///< the probe row (synthetic, then real) each one was made from
  std::vector<uint16_t> inputs;   ///< count × inputShape, IEEE half bits (JSON: base64 "float16")
  std::string sha256;             ///< over the stored half bytes and the labels (sources are provenance)
};

/// Which inputs a fingerprint was taken on; two fingerprints are comparable only if these agree.
/// Probe rows are ordered: synthetic, then real, then boundary.
struct ProbeSpec {
  uint64_t seed = 0;
  int64_t synthetic = 64;            ///< count of seeded uniform [0,1] inputs
  std::vector<int64_t> input_shape;  ///< per-sample shape, e.g. {1,8,8}
  std::string data_path;             ///< optional real samples (engine loads them)
  std::string data_sha256;
  int64_t real = 0;                  ///< count of real samples appended after the synthetic ones
  BoundaryProbes boundary;
  /// Rows of the probe tensor: synthetic + real + boundary.count.
  int64_t total() const { return synthetic + real + boundary.count; }
};

/// True when both specs select the same probe tensor: equal seed, counts, shape, data digest and
/// boundary-probe digest. data_path is ignored: the same file may live elsewhere on another machine.
bool same_probes(const ProbeSpec& a, const ProbeSpec& b);

/// Digest of boundary probes: SHA-256 over the half bytes then the labels as int64 little-endian.
std::string boundary_sha256(const BoundaryProbes& b);

/// One parameter or buffer: its digest, and what the weight-space metrics need.
struct TensorRecord {
  std::string sha256;           ///< tensor_sha256 (dtype, shape and bytes)
  std::string dtype;
  std::vector<int64_t> shape;
  double norm = 0;              ///< L2 norm (floating tensors; 0 otherwise)
  std::string sketch;           ///< hex of the packed sign_sketch bits (floating tensors), else ""
};

/// One captured layer: the activation's full shape (N×C×…) and each probe's channel means (N×C).
struct LayerSummary {
  std::string name;
  std::vector<int64_t> shape;
  Matrix channel_means;
};

/// Everything that identifies a model: weight digests and sketches, the architecture digest,
/// and its behaviour on a probe set (per-probe channel means of each layer, and the logits).
struct Fingerprint {
  int format_version = 2;
  std::string model_sha256;                    ///< file digest, informational
  std::map<std::string, TensorRecord> tensors;  ///< parameter/buffer name -> record
  std::string root_sha256, arch_sha256;
  int64_t parameter_count = 0;
  int64_t sketch_bits = 256;  ///< bits per weight sketch
  uint64_t sketch_seed = 0;   ///< seed of the sketches' ±1 projections
  ProbeSpec probes;
  std::vector<LayerSummary> layers;
  std::vector<int64_t> output_shape;  ///< probe logits shape
  Matrix logits;                      ///< N × (numel / N)
  /// name -> sha256, the manifest root_sha256 is taken over.
  std::map<std::string, std::string> digests() const;
};

/// The format_version this library writes and reads.
inline constexpr int kFormatVersion = 2;

/// Most probe rows (synthetic + real + boundary) a fingerprint may have; `modelgate fingerprint
/// --probes` and a job's ModelFingerprinting spec.probes are held to it too.
inline constexpr int64_t kMaxProbes = 100000;
/// Most bytes of the probe tensor a fingerprint may ask for (rows × inputShape × 4): the inputs
/// are regenerated, and the candidate run on them, whenever the fingerprint is compared.
inline constexpr int64_t kMaxProbeTensorBytes = int64_t(4) << 30;

/// JSON form of a probe spec (seed, synthetic, inputShape, dataPath, dataSha256, real, boundary).
nlohmann::json to_json(const ProbeSpec& spec);
/// Parses to_json(ProbeSpec)'s form; throws std::invalid_argument naming the bad field.
ProbeSpec probe_spec_from_json(const nlohmann::json& j);

/// JSON form, camelCase keys; see fingerprint/schema/fingerprint.schema.json.
nlohmann::json to_json(const Fingerprint& fp);

/// Parses to_json's form; throws std::invalid_argument naming the missing/bad field. A root
/// digest that disagrees with the tensor manifest, boundary probes whose digest disagrees with
/// their contents, and dimensions that disagree with each other or with the data present (probe
/// counts against the rows of every layer and of the logits; rows × cols against the bytes) are
/// refused, as are counts over kMaxProbes and probe tensors over kMaxProbeTensorBytes.
Fingerprint from_json(const nlohmann::json& j);

/// Short form for validation reports: rootSha256, archSha256, parameterCount, layers (names), probes.
nlohmann::json summary_json(const Fingerprint& fp);

/// Base64 (RFC 4648, padded) of a byte range, and back; decode throws std::invalid_argument.
std::string base64_encode(const void* data, size_t size);
std::vector<uint8_t> base64_decode(const std::string& text);

}  // namespace modelgate::fingerprint
