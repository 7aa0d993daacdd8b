#include "fingerprint/record.h"

#include "fingerprint/hashing.h"

#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>

namespace modelgate::fingerprint {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& path, const std::string& expected) {
  throw std::invalid_argument("fingerprint JSON: field '" + path + "' " + expected);
}

const json& field(const json& object, const std::string& key, const std::string& path) {
  const auto it = object.find(key);
  if (it == object.end()) bad(path, "is missing");
  return *it;
}

const json& object_at(const json& object, const std::string& key, const std::string& path) {
  const json& v = field(object, key, path);
  if (!v.is_object()) bad(path, "must be an object");
  return v;
}

std::string string_at(const json& object, const std::string& key, const std::string& path) {
  const json& v = field(object, key, path);
  if (!v.is_string()) bad(path, "must be a string");
  return v.get<std::string>();
}

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string digest_at(const json& object, const std::string& key, const std::string& path) {
  std::string s = string_at(object, key, path);
  if (!is_sha256_hex(s)) bad(path, "must be 64 lower-case hex digits (a SHA-256), got '" + s + "'");
  return s;
}

int64_t int_value(const json& v, const std::string& path, int64_t min) {
  if (!v.is_number_integer()) bad(path, "must be an integer");
  // Values above int64 range parse as unsigned; reject them rather than wrap.
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())) {
    bad(path, "is out of range");
  }
  const int64_t x = v.get<int64_t>();
  if (x < min) bad(path, "must be at least " + std::to_string(min) + ", got " + std::to_string(x));
  return x;
}

int64_t int_at(const json& object, const std::string& key, const std::string& path, int64_t min) {
  return int_value(field(object, key, path), path, min);
}

std::vector<int64_t> ints_at(const json& object, const std::string& key, const std::string& path,
                             int64_t min) {
  const json& v = field(object, key, path);
  if (!v.is_array()) bad(path, "must be an array of integers");
  std::vector<int64_t> out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    out.push_back(int_value(v[i], path + "[" + std::to_string(i) + "]", min));
  }
  return out;
}

std::vector<float> floats_at(const json& object, const std::string& key, const std::string& path) {
  const json& v = field(object, key, path);
  if (!v.is_array()) bad(path, "must be an array of numbers");
  std::vector<float> out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    // to_json writes NaN and infinities as null (JSON has neither).
    if (v[i].is_null()) {
      out.push_back(std::numeric_limits<float>::quiet_NaN());
    } else if (v[i].is_number()) {
      out.push_back(v[i].get<float>());
    } else {
      bad(path + "[" + std::to_string(i) + "]", "must be a number or null");
    }
  }
  return out;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

ProbeSpec probes_from_json(const json& j, const std::string& path) {
  ProbeSpec p;
  const json& seed = field(j, "seed", path + ".seed");
  if (!seed.is_number_integer() || (!seed.is_number_unsigned() && seed.get<int64_t>() < 0)) {
    bad(path + ".seed", "must be a non-negative integer");
  }
  p.seed = seed.get<uint64_t>();
  p.synthetic = int_at(j, "synthetic", path + ".synthetic", 0);
  p.input_shape = ints_at(j, "inputShape", path + ".inputShape", 1);
  p.data_path = string_at(j, "dataPath", path + ".dataPath");
  p.data_sha256 = string_at(j, "dataSha256", path + ".dataSha256");
  if (!p.data_sha256.empty() && !is_sha256_hex(p.data_sha256)) {
    bad(path + ".dataSha256", "must be empty or 64 lower-case hex digits");
  }
  p.real = int_at(j, "real", path + ".real", 0);
  return p;
}

}  // namespace

bool same_probes(const ProbeSpec& a, const ProbeSpec& b) {
  return a.seed == b.seed && a.synthetic == b.synthetic && a.input_shape == b.input_shape &&
         a.data_sha256 == b.data_sha256 && a.real == b.real;
}

nlohmann::json to_json(const ProbeSpec& spec) {
  return {{"seed", spec.seed},           {"synthetic", spec.synthetic},
          {"inputShape", spec.input_shape}, {"dataPath", spec.data_path},
          {"dataSha256", spec.data_sha256}, {"real", spec.real}};
}

nlohmann::json to_json(const Fingerprint& fp) {
  json layers = json::array();
  for (const LayerSummary& l : fp.layers) {
    layers.push_back({{"name", l.name}, {"shape", l.shape}, {"channelMean", l.channel_mean}});
  }
  return {{"formatVersion", fp.format_version},
          {"modelSha256", fp.model_sha256},
          {"tensors", fp.tensors},
          {"rootSha256", fp.root_sha256},
          {"archSha256", fp.arch_sha256},
          {"parameterCount", fp.parameter_count},
          {"probes", to_json(fp.probes)},
          {"layers", std::move(layers)},
          {"outputShape", fp.output_shape},
          {"logits", fp.logits}};
}

Fingerprint from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw std::invalid_argument("fingerprint JSON: expected an object at the top level");
  Fingerprint fp;
  fp.format_version = static_cast<int>(int_at(j, "formatVersion", "formatVersion", 1));
  if (fp.format_version != kFormatVersion) {
    bad("formatVersion", "is " + std::to_string(fp.format_version) + ", this build reads " +
                             std::to_string(kFormatVersion));
  }
  fp.model_sha256 = string_at(j, "modelSha256", "modelSha256");
  if (!fp.model_sha256.empty() && !is_sha256_hex(fp.model_sha256)) {
    bad("modelSha256", "must be empty or 64 lower-case hex digits");
  }
  const json& tensors = object_at(j, "tensors", "tensors");
  for (const auto& [name, digest] : tensors.items()) {
    const std::string path = "tensors." + name;
    if (!digest.is_string() || !is_sha256_hex(digest.get<std::string>())) {
      bad(path, "must be 64 lower-case hex digits (a SHA-256)");
    }
    fp.tensors[name] = digest.get<std::string>();
  }
  fp.root_sha256 = digest_at(j, "rootSha256", "rootSha256");
  // A root that disagrees with its own manifest means a hand-edited or corrupt file; comparing
  // against it would give a verdict on weights nobody hashed.
  if (fp.root_sha256 != root_sha256(fp.tensors)) {
    bad("rootSha256", "does not match the root of 'tensors'");
  }
  fp.arch_sha256 = digest_at(j, "archSha256", "archSha256");
  fp.parameter_count = int_at(j, "parameterCount", "parameterCount", 0);
  fp.probes = probes_from_json(object_at(j, "probes", "probes"), "probes");

  const json& layers = field(j, "layers", "layers");
  if (!layers.is_array()) bad("layers", "must be an array");
  std::set<std::string> names;
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string path = "layers[" + std::to_string(i) + "]";
    if (!layers[i].is_object()) bad(path, "must be an object");
    LayerSummary l;
    l.name = string_at(layers[i], "name", path + ".name");
    if (!names.insert(l.name).second) bad(path + ".name", "repeats the layer '" + l.name + "'");
    l.shape = ints_at(layers[i], "shape", path + ".shape", 0);
    if (l.shape.size() < 2) bad(path + ".shape", "must have rank 2 or more (N×C×…)");
    l.channel_mean = floats_at(layers[i], "channelMean", path + ".channelMean");
    if (int64_t(l.channel_mean.size()) != l.shape[1]) {
      bad(path + ".channelMean", "has " + std::to_string(l.channel_mean.size()) +
                                     " values, expected shape[1] = " + std::to_string(l.shape[1]));
    }
    fp.layers.push_back(std::move(l));
  }
  fp.output_shape = ints_at(j, "outputShape", "outputShape", 0);
  fp.logits = floats_at(j, "logits", "logits");
  if (int64_t(fp.logits.size()) != numel(fp.output_shape)) {
    bad("logits", "has " + std::to_string(fp.logits.size()) + " values, expected " +
                      std::to_string(numel(fp.output_shape)) + " (the product of outputShape)");
  }
  return fp;
}

nlohmann::json summary_json(const Fingerprint& fp) {
  json names = json::array();
  for (const LayerSummary& l : fp.layers) names.push_back(l.name);
  return {{"rootSha256", fp.root_sha256},
          {"archSha256", fp.arch_sha256},
          {"parameterCount", fp.parameter_count},
          {"layers", std::move(names)},
          {"probes", to_json(fp.probes)}};
}

}  // namespace modelgate::fingerprint
