#include "engine/commands.h"

#include "engine/dataset.h"
#include "engine/device.h"
#include "engine/environment.h"
#include "engine/errors.h"
#include "engine/guarded_load.h"
#include "engine/json_depth.h"
#include "engine/model_fingerprint.h"
#include "engine/model.h"
#include "engine/model_crypto.h"
#include "engine/report/compare_report.h"
#include "engine/report/files.h"
#include "engine/report/summary.h"
#include "engine/signing.h"
#include "fingerprint/fingerprint.h"
#include "fingerprint/hashing.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace modelgate::engine {
namespace fs = std::filesystem;
namespace {

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: {} not found or unreadable", path, what));
  std::stringstream text;
  text << in.rdbuf();
  if (json_too_deep(text.str())) throw InputError(fmt::format("{}: nests deeper than {} levels", path, kMaxJsonDepth));
  const auto j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw InputError(path + ": not valid JSON");
  return j;
}

fingerprint::Fingerprint parse_fingerprint(const nlohmann::json& j, const std::string& path) {
  try {
    return fingerprint::from_json(j);
  } catch (const std::exception& e) {
    throw InputError(fmt::format("{}: not a modelgate fingerprint: {}", path, one_line(e)));
  }
}

// A candidate given as a fingerprint file rather than a model: JSON, by content.
bool is_fingerprint_file(const std::string& path) {
  std::ifstream in(path);
  char c = 0;
  while (in.get(c) && std::isspace(static_cast<unsigned char>(c))) {
  }
  return in && c == '{';
}

}  // namespace

int cmd_fingerprint(const FingerprintArgs& args, const Progress& progress) {
  if (!args.sign.empty()) check_signing_key(args.sign);
  check_output_path(args.out, "fingerprint", {args.model, args.data, args.sign});
  const auto device = resolve_device(args.device);
  std::vector<std::filesystem::path> reads;
  if (!args.data.empty()) reads.emplace_back(args.data);
  auto loaded = load_for_command(args.model, device, reads);
  if (!loaded) return kBlock;
  auto& model = *loaded;
  fingerprint::ProbeSpec spec;
  spec.seed = args.seed;
  spec.synthetic = args.probes;
  if (!args.data.empty()) {
    const auto data = load_dataset(args.data);
    spec.input_shape = data.sample_shape();
    spec.real = std::min<int64_t>(args.real, data.size());
    spec.data_path = fs::absolute(args.data).lexically_normal().string();
    spec.data_sha256 = fingerprint::file_sha256(args.data);
  } else if (!args.input_shape.empty()) {
    spec.input_shape = args.input_shape;
  } else {
    spec.input_shape = declared_input_shape(model.metadata());
    if (spec.input_shape.empty())
      throw InputError(args.model + ": the model does not declare its input shape; pass --data or --input-shape C,H,W");
  }
  spec.boundary.count = args.boundary;
  spec.boundary.epsilon = args.boundary_eps;
  spec.boundary.steps = args.boundary_steps;
  if (spec.boundary.count > spec.synthetic + spec.real)
    throw InputError(fmt::format("--boundary {} needs as many source probes; there are {} (--probes {} + --real {})",
                                 spec.boundary.count, spec.synthetic + spec.real, spec.synthetic, spec.real));
  const auto capturable = model.capturable_layers();
  for (const auto& layer : args.layers) {
    if (std::find(capturable.begin(), capturable.end(), layer) == capturable.end())
      throw InputError(fmt::format("--layers: {} has no capturable layer '{}' (see 'modelgate inspect {}'; capturable: {})",
                                   args.model, layer, args.model,
                                   capturable.empty() ? std::string("none") : fmt::format("{}", fmt::join(capturable, ", "))));
  }
  const auto layers = args.layers.empty() ? fingerprint::top_level_layers(capturable) : args.layers;
  progress(fmt::format("fingerprinting {} on {} probes ({} synthetic, {} real, {} boundary) on {}", args.model,
                       spec.total(), spec.synthetic, spec.real, spec.boundary.count, device.str()));
  const auto fp = model.fingerprint(spec, layers);
  auto out = fingerprint::to_json(fp);
  if (!args.sign.empty()) out["signature"] = signature_for(out, args.sign);
  const std::string text = out.dump(1) + "\n";
  write_atomically(args.out, text);
  std::vector<std::string> names;
  for (const auto& l : fp.layers) names.push_back(l.name);
  fmt::print("fingerprint: {} ({} KiB)\n  root   {}\n  arch   {}\n  tensors {}, parameters {}\n  probes {} ({} synthetic, {} real, {} boundary)\n  layers {}\n",
             args.out, (text.size() + 1023) / 1024, fp.root_sha256, fp.arch_sha256, fp.tensors.size(), fp.parameter_count,
             spec.total(), spec.synthetic, spec.real, spec.boundary.count, names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")));
  return 0;
}

int cmd_compare(const CompareArgs& args, const Progress& progress) {
  // Under --verify every input that decides the verdict must be signed by the key: the reference,
  // a candidate given as a fingerprint, and a thresholds file. An altered candidate fingerprint
  // changes the verdict as surely as an altered reference.
  const bool verify = !args.verify.empty();
  SignatureChecks signatures;
  const auto j = read_json_file(args.reference, "reference fingerprint");
  if (verify) {
    verify_document(j, args.verify, args.reference);
    signatures.reference = "verified";
  }
  if (!args.sign.empty()) check_signing_key(args.sign);
  if (!args.report.empty())
    check_output_path(args.report, "comparison report", {args.reference, args.candidate, args.sign, args.thresholds});
  const auto reference = parse_fingerprint(j, args.reference);
  fingerprint::Thresholds thresholds = fingerprint::calibrated_thresholds();
  if (!args.thresholds.empty()) {
    const auto tj = read_json_file(args.thresholds, "thresholds file");
    signatures.thresholds = "not checked";
    if (verify) {  // thresholds decide the verdict as much as the fingerprints do ('modelgate sign' signs them)
      verify_document(tj, args.verify, args.thresholds);
      signatures.thresholds = "verified";
    }
    try {
      thresholds = fingerprint::thresholds_from_json(tj, args.thresholds);
    } catch (const std::invalid_argument& e) {
      throw InputError(one_line(e));
    }
  }
  fingerprint::Fingerprint candidate;
  std::string device_name = "none (fingerprint file)";
  if (is_fingerprint_file(args.candidate)) {
    const auto cj = read_json_file(args.candidate, "candidate fingerprint");
    if (verify) {
      verify_document(cj, args.verify, args.candidate);
      signatures.candidate = "verified";
    }
    candidate = parse_fingerprint(cj, args.candidate);
    if (!fingerprint::same_probes(reference.probes, candidate.probes))
      throw InputError(fmt::format("{}: taken on other probes than {} (seed, counts, input shape, data or boundary probes "
                                   "differ); fingerprint the candidate model against the reference instead",
                                   args.candidate, args.reference));
  } else {
    const auto device = resolve_device(args.device);
    device_name = device.str();
    if (verify) signatures.candidate = "model file";
    std::vector<std::filesystem::path> reads;
    if (!reference.probes.data_path.empty()) reads.emplace_back(reference.probes.data_path);
    auto loaded = load_for_command(args.candidate, device, reads);
    if (!loaded) return kBlock;
    auto& model = *loaded;
    // The reference's layers, as far as the candidate has them; the rest show as unmatched.
    const auto capturable = model.capturable_layers();
    std::vector<std::string> layers;
    for (const auto& l : reference.layers) {
      if (std::find(capturable.begin(), capturable.end(), l.name) != capturable.end()) layers.push_back(l.name);
    }
    progress(fmt::format("replaying {} probes of {} on {}", reference.probes.total(), args.reference, args.candidate));
    candidate = model.fingerprint(reference.probes, layers);
  }
  const auto cmp = fingerprint::compare(reference, candidate, thresholds);
  const auto verdict = fingerprint::to_string(cmp.verdict);
  const int code = cmp.verdict == fingerprint::Verdict::derived     ? 1
                   : cmp.verdict == fingerprint::Verdict::unrelated ? 2
                                                                    : 0;
  auto report = comparison_report({args.reference, reference}, {args.candidate, candidate}, cmp, code, device_name,
                                  signatures, current_environment());
  if (!args.sign.empty()) report["signature"] = signature_for(report, args.sign);
  fmt::print("{}verdict: {}\n", comparison_text(cmp), verdict);
  if (!args.report.empty()) {
    write_atomically(args.report, report.dump(2) + "\n");
    fmt::print("report: {}\n", shown_path(args.report));
  }
  return code;
}

int cmd_keygen(const KeygenArgs& args) {
  if (args.symmetric) {
    const auto path = args.out + ".key";
    const auto id = generate_symmetric_key(path);
    fmt::print("key: {} (AES-256-GCM, key id {}, mode 0600; keep it secret: it decrypts every model encrypted with it)\n",
               path, id);
    return 0;
  }
  generate_keypair(args.out);
  fmt::print("private key: {}.key (mode 0600; keep it secret)\npublic key:  {}.pub\n", args.out, args.out);
  return 0;
}

int cmd_inspect(const InspectArgs& args) {
  auto loaded = load_for_command(args.model, c10::Device(c10::kCPU));
  if (!loaded) return kBlock;
  const auto d = loaded->describe();
  if (args.json) {
    fmt::print("{}\n", d.dump(2));
    return 0;
  }
  fmt::print("{}  ({})\n  sha256 {}\n  parameters {}  buffer elements {}\n", args.model, d["type"].get<std::string>(),
             d["sha256"].get<std::string>(), d["parameterCount"].get<int64_t>(), d["bufferElements"].get<int64_t>());
  fmt::print("  input: {}\n\nsubmodules:\n", d["input"].dump());
  for (const auto& s : d["submodules"]) {
    std::vector<std::string> tensors;
    for (const auto& t : s["tensors"]) tensors.push_back(fmt::format("{}{}", t["name"].get<std::string>(), t["shape"].dump()));
    fmt::print("  {:<28} {:<36} {:>9}  {}\n", s["name"].get<std::string>(), s["type"].get<std::string>(),
               s["parameters"].get<int64_t>(), fmt::join(tensors, " "));
  }
  fmt::print("\ncapturable layers (fingerprint taps): {}\n", fmt::join(d["capturableLayers"].get<std::vector<std::string>>(), ", "));
  return 0;
}

int cmd_sign(const SignArgs& args) {
  auto j = read_json_file(args.file, "document to sign");
  if (!j.is_object()) throw InputError(fmt::format("{}: expected a JSON object to sign", args.file));
  check_signing_key(args.key);
  const std::string out = args.out.empty() ? args.file : args.out;
  if (!args.out.empty()) check_output_path(out, "signed document", {args.file, args.key});
  j["signature"] = signature_for(j, args.key);
  write_atomically(out, j.dump(2) + "\n");
  fmt::print("signed: {}\n", shown_path(out));
  return 0;
}

}  // namespace modelgate::engine
