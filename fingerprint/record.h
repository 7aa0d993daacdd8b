#pragma once
// The fingerprint record and its JSON form. Free of torch so that tools that only read,
// write or compare fingerprints stay cheap to compile.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace modelgate::fingerprint {

/// Which inputs a fingerprint was taken on; two fingerprints are comparable only if these agree.
struct ProbeSpec {
  uint64_t seed = 0;
  int64_t synthetic = 64;            // count of seeded uniform [0,1] inputs
  std::vector<int64_t> input_shape;  // per-sample shape, e.g. {1,8,8}
  std::string data_path;             // optional real samples (engine loads them)
  std::string data_sha256;
  int64_t real = 0;                  // count of real samples appended after the synthetic ones
};

/// True when both specs select the same probe tensor: equal seed, counts, shape and data digest.
/// data_path is ignored because the same file may live at another path on another machine.
bool same_probes(const ProbeSpec& a, const ProbeSpec& b);

/// One captured layer: the activation's full shape (N×C×…) and its per-channel means.
struct LayerSummary {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> channel_mean;
};

/// Everything that identifies a model: weight digests, architecture digest, and its behaviour
/// (layer channel means and logits) on a probe set.
struct Fingerprint {
  int format_version = 1;
  std::string model_sha256;                    // file digest, informational
  std::map<std::string, std::string> tensors;  // parameter/buffer name -> sha256
  std::string root_sha256, arch_sha256;
  int64_t parameter_count = 0;
  ProbeSpec probes;
  std::vector<LayerSummary> layers;
  std::vector<int64_t> output_shape;  // probe logits shape
  std::vector<float> logits;          // row-major probe logits
};

/// The format_version this library writes and reads.
inline constexpr int kFormatVersion = 1;

/// JSON form of a probe spec (seed, synthetic, inputShape, dataPath, dataSha256, real).
nlohmann::json to_json(const ProbeSpec& spec);

/// JSON form (keys camelCase: formatVersion, modelSha256, tensors, rootSha256, archSha256,
/// parameterCount, probes{seed,synthetic,inputShape,dataPath,dataSha256,real},
/// layers[{name,shape,channelMean}], outputShape, logits). Non-finite floats are written as
/// null, since JSON has no NaN or infinity, and read back as NaN.
nlohmann::json to_json(const Fingerprint& fp);

/// Parses to_json's form; throws std::invalid_argument naming the missing/bad field.
Fingerprint from_json(const nlohmann::json& j);

/// Short form for validation reports: rootSha256, archSha256, parameterCount, layers (names), probes.
nlohmann::json summary_json(const Fingerprint& fp);

}  // namespace modelgate::fingerprint
