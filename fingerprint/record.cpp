#include "fingerprint/record.h"

#include "fingerprint/hashing.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
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

double number_at(const json& object, const std::string& key, const std::string& path) {
  const json& v = field(object, key, path);
  if (!v.is_number()) bad(path, "must be a number");
  return v.get<double>();
}

// The product of sizes read from the file, refused (naming `path`) where it would overflow.
int64_t checked_product(const std::vector<int64_t>& sizes, const std::string& path) {
  int64_t n = 1;
  for (int64_t d : sizes) {
    if (d < 0 || (d > 0 && n > std::numeric_limits<int64_t>::max() / d)) bad(path, "is too large (its product overflows)");
    n *= d;
  }
  return n;
}

int64_t numel(const std::vector<int64_t>& shape) { return checked_product(shape, "shape"); }

// Writers and readers of the base64 payloads (little-endian, as every supported host is).
json matrix_json(const Matrix& m) {
  return {{"rows", m.rows}, {"cols", m.cols},
          {"float32", base64_encode(m.values.data(), m.values.size() * sizeof(float))}};
}

Matrix matrix_at(const json& object, const std::string& key, const std::string& path) {
  const json& j = object_at(object, key, path);
  Matrix m;
  m.rows = int_at(j, "rows", path + ".rows", 0);
  m.cols = int_at(j, "cols", path + ".cols", 0);
  // Rows of nothing are no data: a matrix of 2^32 rows and 0 columns would claim probes it lacks.
  if (m.rows > 0 && m.cols == 0) bad(path + ".cols", "is 0 with " + std::to_string(m.rows) + " rows");
  const int64_t values = checked_product({m.rows, m.cols}, path + ".rows × cols");
  std::vector<uint8_t> bytes;
  try {
    bytes = base64_decode(string_at(j, "float32", path + ".float32"));
  } catch (const std::invalid_argument& e) {
    bad(path + ".float32", std::string("is not base64: ") + e.what());
  }
  if (bytes.size() % sizeof(float) != 0 || int64_t(bytes.size() / sizeof(float)) != values) {
    bad(path + ".float32", "holds " + std::to_string(bytes.size() / sizeof(float)) + " floats, expected rows × cols = " +
                               std::to_string(values));
  }
  m.values.resize(size_t(values));
  if (!bytes.empty()) std::memcpy(m.values.data(), bytes.data(), bytes.size());  // empty vectors may hold null
  return m;
}

BoundaryProbes boundary_from_json(const json& j, const std::string& path, int64_t sample_numel) {
  BoundaryProbes b;
  b.count = int_at(j, "count", path + ".count", 0);
  if (b.count > kMaxProbes) bad(path + ".count", "is " + std::to_string(b.count) + ", over the limit of " + std::to_string(kMaxProbes));
  b.epsilon = number_at(j, "epsilon", path + ".epsilon");
  if (!(b.epsilon >= 0)) bad(path + ".epsilon", "must be a number ≥ 0");
  b.steps = int_at(j, "steps", path + ".steps", 0);
  b.labels = ints_at(j, "labels", path + ".labels", 0);
  if (int64_t(b.labels.size()) != b.count) {
    bad(path + ".labels", "has " + std::to_string(b.labels.size()) + " labels, expected count = " + std::to_string(b.count));
  }
  b.sources = ints_at(j, "sources", path + ".sources", 0);
  if (b.sources.size() != b.labels.size()) {
    bad(path + ".sources", "has " + std::to_string(b.sources.size()) + " rows, expected count = " + std::to_string(b.count));
  }
  std::vector<uint8_t> bytes;
  try {
    bytes = base64_decode(string_at(j, "float16", path + ".float16"));
  } catch (const std::invalid_argument& e) {
    bad(path + ".float16", std::string("is not base64: ") + e.what());
  }
  const int64_t values = checked_product({b.count, sample_numel}, path + ".count × inputShape");
  if (bytes.size() % 2 != 0 || int64_t(bytes.size() / 2) != values) {
    bad(path + ".float16", "holds " + std::to_string(bytes.size() / 2) + " values, expected count × inputShape = " +
                               std::to_string(values));
  }
  b.inputs.resize(bytes.size() / 2);
  if (!bytes.empty()) std::memcpy(b.inputs.data(), bytes.data(), bytes.size());
  b.sha256 = digest_at(j, "sha256", path + ".sha256");
  if (b.sha256 != boundary_sha256(b)) bad(path + ".sha256", "does not match the stored boundary probes");
  return b;
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
  for (const auto& [count, name] : {std::pair{p.synthetic, ".synthetic"}, std::pair{p.real, ".real"}})
    if (count > kMaxProbes) bad(path + name, "is " + std::to_string(count) + ", over the limit of " + std::to_string(kMaxProbes));
  const int64_t sample_numel = checked_product(p.input_shape, path + ".inputShape");
  p.boundary = boundary_from_json(object_at(j, "boundary", path + ".boundary"), path + ".boundary", sample_numel);
  if (p.total() == 0) bad(path, "has no probes (synthetic + real + boundary = 0): there is no behaviour to compare");
  if (p.total() > kMaxProbes)
    bad(path, "asks for " + std::to_string(p.total()) + " probes, over the limit of " + std::to_string(kMaxProbes));
  // The probe inputs are made again whenever the fingerprint is compared: bound them before that.
  if (sample_numel > kMaxProbeTensorBytes / 4 / std::max<int64_t>(p.total(), 1))
    bad(path + ".inputShape", "makes a probe tensor of over " + std::to_string(kMaxProbeTensorBytes >> 30) +
                                  " GiB with " + std::to_string(p.total()) + " probes");
  return p;
}

TensorRecord tensor_from_json(const json& j, const std::string& path) {
  if (!j.is_object()) bad(path, "must be an object");
  TensorRecord t;
  t.sha256 = digest_at(j, "sha256", path + ".sha256");
  t.dtype = string_at(j, "dtype", path + ".dtype");
  t.shape = ints_at(j, "shape", path + ".shape", 0);
  t.norm = number_at(j, "norm", path + ".norm");
  t.sketch = string_at(j, "sketch", path + ".sketch");
  for (char c : t.sketch) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) bad(path + ".sketch", "must be lower-case hex");
  }
  return t;
}

json probes_json(const ProbeSpec& spec, bool with_inputs) {
  json boundary{{"count", spec.boundary.count}, {"epsilon", spec.boundary.epsilon}, {"steps", spec.boundary.steps},
                {"sha256", spec.boundary.sha256.empty() ? boundary_sha256(spec.boundary) : spec.boundary.sha256}};
  if (with_inputs) {
    boundary["labels"] = spec.boundary.labels;
    boundary["sources"] = spec.boundary.sources;
    boundary["float16"] = base64_encode(spec.boundary.inputs.data(), spec.boundary.inputs.size() * 2);
  }
  return {{"seed", spec.seed},           {"synthetic", spec.synthetic},
          {"inputShape", spec.input_shape}, {"dataPath", spec.data_path},
          {"dataSha256", spec.data_sha256}, {"real", spec.real},
          {"boundary", std::move(boundary)}};
}

}  // namespace

std::string base64_encode(const void* data, size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      static_cast<const unsigned char*>(data), static_cast<int>(size));
  out.resize(size_t(written));
  return out;
}

std::vector<uint8_t> base64_decode(const std::string& text) {
  if (text.size() % 4 != 0) throw std::invalid_argument("length " + std::to_string(text.size()) + " is not a multiple of 4");
  std::vector<uint8_t> out(3 * (text.size() / 4));
  const int written = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                      static_cast<int>(text.size()));
  if (written < 0) throw std::invalid_argument("invalid base64 character");
  // EVP_DecodeBlock counts the padding as zero bytes; drop them.
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out.resize(size_t(written) - padding);
  return out;
}

std::string boundary_sha256(const BoundaryProbes& b) {
  std::string bytes(reinterpret_cast<const char*>(b.inputs.data()), b.inputs.size() * 2);
  bytes.append(reinterpret_cast<const char*>(b.labels.data()), b.labels.size() * sizeof(int64_t));
  return sha256_hex(bytes.data(), bytes.size());
}

bool same_probes(const ProbeSpec& a, const ProbeSpec& b) {
  return a.seed == b.seed && a.synthetic == b.synthetic && a.input_shape == b.input_shape &&
         a.data_sha256 == b.data_sha256 && a.real == b.real && a.boundary.count == b.boundary.count &&
         boundary_sha256(a.boundary) == boundary_sha256(b.boundary);
}

std::map<std::string, std::string> Fingerprint::digests() const {
  std::map<std::string, std::string> out;
  for (const auto& [name, t] : tensors) out[name] = t.sha256;
  return out;
}

nlohmann::json to_json(const ProbeSpec& spec) { return probes_json(spec, /*with_inputs=*/true); }

ProbeSpec probe_spec_from_json(const nlohmann::json& j) { return probes_from_json(j, "probes"); }

nlohmann::json to_json(const Fingerprint& fp) {
  json tensors = json::object();
  for (const auto& [name, t] : fp.tensors) {
    tensors[name] = {{"sha256", t.sha256}, {"dtype", t.dtype}, {"shape", t.shape}, {"norm", t.norm}, {"sketch", t.sketch}};
  }
  json layers = json::array();
  for (const LayerSummary& l : fp.layers) {
    layers.push_back({{"name", l.name}, {"shape", l.shape}, {"channelMeans", matrix_json(l.channel_means)}});
  }
  return {{"formatVersion", fp.format_version},
          {"modelSha256", fp.model_sha256},
          {"tensors", std::move(tensors)},
          {"rootSha256", fp.root_sha256},
          {"archSha256", fp.arch_sha256},
          {"parameterCount", fp.parameter_count},
          {"weightSketch", {{"bits", fp.sketch_bits}, {"seed", fp.sketch_seed}}},
          {"probes", to_json(fp.probes)},
          {"layers", std::move(layers)},
          {"outputShape", fp.output_shape},
          {"logits", matrix_json(fp.logits)}};
}

Fingerprint from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw std::invalid_argument("fingerprint JSON: expected an object at the top level");
  Fingerprint fp;
  fp.format_version = static_cast<int>(int_at(j, "formatVersion", "formatVersion", 1));
  if (fp.format_version != kFormatVersion) {
    bad("formatVersion", "is " + std::to_string(fp.format_version) + ", this build reads " +
                             std::to_string(kFormatVersion) + " (re-run 'modelgate fingerprint' on the reference model)");
  }
  fp.model_sha256 = string_at(j, "modelSha256", "modelSha256");
  if (!fp.model_sha256.empty() && !is_sha256_hex(fp.model_sha256)) {
    bad("modelSha256", "must be empty or 64 lower-case hex digits");
  }
  const json& tensors = object_at(j, "tensors", "tensors");
  for (const auto& [name, record] : tensors.items()) fp.tensors[name] = tensor_from_json(record, "tensors." + name);
  fp.root_sha256 = digest_at(j, "rootSha256", "rootSha256");
  // A root that disagrees with its own manifest means a hand-edited or corrupt file; comparing
  // against it would give a verdict on weights nobody hashed.
  if (fp.root_sha256 != root_sha256(fp.digests())) bad("rootSha256", "does not match the root of 'tensors'");
  fp.arch_sha256 = digest_at(j, "archSha256", "archSha256");
  fp.parameter_count = int_at(j, "parameterCount", "parameterCount", 0);
  const json& sketch = object_at(j, "weightSketch", "weightSketch");
  fp.sketch_bits = int_at(sketch, "bits", "weightSketch.bits", 1);
  const json& sketch_seed = field(sketch, "seed", "weightSketch.seed");
  if (!sketch_seed.is_number_integer() || (!sketch_seed.is_number_unsigned() && sketch_seed.get<int64_t>() < 0)) {
    bad("weightSketch.seed", "must be a non-negative integer");
  }
  fp.sketch_seed = sketch_seed.get<uint64_t>();
  for (const auto& [name, t] : fp.tensors) {
    if (!t.sketch.empty() && int64_t(t.sketch.size()) * 4 != fp.sketch_bits) {
      bad("tensors." + name + ".sketch", "has " + std::to_string(t.sketch.size() * 4) + " bits, expected weightSketch.bits = " +
                                             std::to_string(fp.sketch_bits));
    }
  }
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
    checked_product(l.shape, path + ".shape");
    if (l.shape[0] != fp.probes.total())
      bad(path + ".shape", "has " + std::to_string(l.shape[0]) + " rows, expected one per probe (" +
                               std::to_string(fp.probes.total()) + ")");
    l.channel_means = matrix_at(layers[i], "channelMeans", path + ".channelMeans");
    if (l.channel_means.rows != l.shape[0] || l.channel_means.cols != l.shape[1]) {
      bad(path + ".channelMeans", "is " + std::to_string(l.channel_means.rows) + "×" + std::to_string(l.channel_means.cols) +
                                      ", expected shape[0]×shape[1] = " + std::to_string(l.shape[0]) + "×" +
                                      std::to_string(l.shape[1]));
    }
    fp.layers.push_back(std::move(l));
  }
  fp.output_shape = ints_at(j, "outputShape", "outputShape", 0);
  checked_product(fp.output_shape, "outputShape");
  fp.logits = matrix_at(j, "logits", "logits");
  if (fp.logits.rows != fp.probes.total())
    bad("logits", "has " + std::to_string(fp.logits.rows) + " rows, expected one per probe (" +
                      std::to_string(fp.probes.total()) + ")");
  if (fp.logits.rows * fp.logits.cols != numel(fp.output_shape) ||
      (!fp.output_shape.empty() && fp.logits.rows != fp.output_shape[0])) {
    bad("logits", "is " + std::to_string(fp.logits.rows) + "×" + std::to_string(fp.logits.cols) +
                      ", expected outputShape[0] rows and " + std::to_string(numel(fp.output_shape)) + " values");
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
          {"probes", probes_json(fp.probes, /*with_inputs=*/false)}};
}

}  // namespace modelgate::fingerprint
