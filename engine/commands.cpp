#include "engine/commands.h"

#include "engine/config.h"
#include "engine/dataset.h"
#include "engine/device.h"
#include "engine/errors.h"
#include "engine/model.h"
#include "engine/report.h"
#include "engine/runner.h"
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

// Paths under the working directory print relative to it: shorter, and what the user typed.
std::string shown(const std::string& path) {
  std::error_code ec;
  const auto rel = fs::relative(path, fs::current_path(ec), ec);
  if (ec || rel.empty() || *rel.begin() == "..") return path;
  return rel.string();
}

nlohmann::ordered_json ordered_from(const nlohmann::json& j) { return nlohmann::ordered_json::parse(j.dump()); }

std::string pct(const nlohmann::ordered_json& correct, const nlohmann::ordered_json& total) {
  const auto c = correct.get<int64_t>(), t = total.get<int64_t>();
  return fmt::format("{:6.2f}%  ({}/{})", t ? 100.0 * c / t : 0.0, c, t);
}

void print_summary(const nlohmann::ordered_json& r, const fs::path& report_path) {
  fmt::print("modelgate {} · job {} · device {} · seed {} · {} samples from {}\n",
             r["tool"]["version"].get<std::string>(), r["job"]["name"].get<std::string>(),
             r["device"].get<std::string>(), r["seed"].get<uint64_t>(),
             r["dataset"]["samples"].get<int64_t>(), shown(r["dataset"]["path"].get<std::string>()));
  for (const auto& m : r["models"]) {
    fmt::print("\n{}  ({}, sha256 {}…)\n", m["name"].get<std::string>(), shown(m["path"].get<std::string>()),
               m["sha256"].get<std::string>().substr(0, 16));
    fmt::print("  {:<44} {}\n", "clean accuracy", pct(m["clean"]["correct"], m["clean"]["total"]));
    for (const auto& a : m["adversarial"]) {
      const auto name = a["attack"].get<std::string>() + (a["loss"].is_null() ? "" : "-" + a["loss"].get<std::string>()) +
                        (a["norm"] == "l2" ? "-l2" : "");
      auto label = a["attack"] == "fgsm"
                       ? fmt::format("{:<6} eps={:.4g}", name, a["epsilon"].get<double>())
                       : fmt::format("{:<6} eps={:.4g} steps={} alpha={:.3g}{}", name, a["epsilon"].get<double>(),
                                     a["steps"].get<int64_t>(), a["stepSize"].get<double>(),
                                     a["randomStart"].get<bool>() ? " rs" : "");
      if (a["restarts"].get<int64_t>() > 1) label += fmt::format(" x{}", a["restarts"].get<int64_t>());
      if (!a["target"].is_null()) label += fmt::format(" →{}", a["target"].dump());
      fmt::print("  {:<44} {}  {:.2f}s\n", label, pct(a["correct"], a["total"]), a["seconds"].get<double>());
    }
    for (const auto& c : m["robustness"]) {
      const auto label = c["corruption"] == "gaussian_noise"
                             ? fmt::format("noise  level={:.4g}", c["level"].get<double>())
                             : fmt::format("blur   {0}x{0} sigma={1:.3g}", c["kernel"].get<int64_t>(), c["sigma"].get<double>());
      fmt::print("  {:<44} {}  {:.2f}s\n", label, pct(c["correct"], c["total"]), c["seconds"].get<double>());
    }
    if (!m["fingerprint"].is_null())
      fmt::print("  {:<44} root {}…  arch {}…\n", "fingerprint",
                 m["fingerprint"]["rootSha256"].get<std::string>().substr(0, 12),
                 m["fingerprint"]["archSha256"].get<std::string>().substr(0, 12));
    if (m["findings"].empty()) {
      fmt::print("  findings: none\n");
    } else {
      fmt::print("  findings: {}\n", m["findings"].size());
      for (const auto& f : m["findings"])
        fmt::print("    [{} → {}] {}: {}\n", f["severity"].get<std::string>(), f["action"].get<std::string>(),
                   f["check"].get<std::string>(), f["message"].get<std::string>());
    }
  }
  if (!r["warnings"].empty())
    fmt::print("\nwarnings: {} (on stderr and in the report)\n", r["warnings"].size());
  fmt::print("\nverdict: {} (exit {})\nreport: {}\n", r["verdict"].get<std::string>(), r["exitCode"].get<int>(),
             shown(report_path.string()));
}

// The probe batch a fingerprint specification describes: its synthetic inputs, then its
// real samples, re-read from the dataset it names (which must not have changed).
at::Tensor probes_for(const fingerprint::ProbeSpec& spec) {
  auto probes = fingerprint::synthetic_probes(spec);
  if (spec.real <= 0) return probes;
  const auto data = load_dataset(spec.data_path);
  const auto digest = fingerprint::file_sha256(spec.data_path);
  if (!spec.data_sha256.empty() && digest != spec.data_sha256)
    throw InputError(fmt::format("{}: the probe dataset changed since the fingerprint was taken (sha256 {}…, expected {}…)",
                                 spec.data_path, digest.substr(0, 12), spec.data_sha256.substr(0, 12)));
  if (data.size() < spec.real)
    throw InputError(fmt::format("{}: has {} samples, the fingerprint needs {}", spec.data_path, data.size(), spec.real));
  return at::cat({probes, data.inputs.narrow(0, 0, spec.real)});
}

fingerprint::Fingerprint fingerprint_model(LoadedModel& model, const fingerprint::ProbeSpec& spec,
                                           const std::vector<std::string>& layers, const c10::Device& device) {
  const auto probes = probes_for(spec).to(device);
  {
    at::NoGradGuard no_grad;  // fails early, with the model's own message, on a shape mismatch
    forward_logits(model.module, probes.narrow(0, 0, std::min<int64_t>(2, probes.size(0))), model.path.string());
  }
  fingerprint::Fingerprint fp;
  try {
    fp = fingerprint::compute(model.module, probes, spec, layers);
  } catch (const std::invalid_argument& e) {
    throw InputError(fmt::format("{}: {}", model.path.string(), one_line(e)));
  }
  fp.model_sha256 = model.sha256;
  return fp;
}

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: {} not found or unreadable", path, what));
  std::stringstream text;
  text << in.rdbuf();
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

// The verdict's evidence in a few lines; the report has every field.
void print_comparison(const fingerprint::Comparison& c) {
  auto value = [&](const std::string& name) {
    const auto v = c.metrics.get(name);
    return v ? fmt::format("{:.4f}", *v) : std::string("n/a");
  };
  fmt::print("weights   {} (tensors matching {}/{}, compared {}), architecture {}\n",
             c.weights_identical ? "identical" : "differ", c.tensors_matching, c.tensors_reference, c.tensors_compared,
             c.arch_identical ? "identical" : "differs");
  fmt::print("outputs   agreement {}  JS distance {}  logit correlation {}  max rel diff {}\n", value("outputAgreement"),
             value("jsDistance"), value("logitCorrelation"),
             c.max_logit_rel_diff ? fmt::format("{:.3g}", *c.max_logit_rel_diff) : "n/a");
  fmt::print("boundary  agreement {}  accuracy gap {}\n", value("boundaryAgreement"), value("boundaryAccuracyGap"));
  fmt::print("layers    LOD {}  LAD {}  CKA {}  ({} compared{})\n", value("lod"), value("lad"), value("cka"),
             c.layers.size(), c.unmatched_layers.empty() ? "" : fmt::format(", unmatched: {}", fmt::join(c.unmatched_layers, ", ")));
  fmt::print("weights   cosine {}  relative L2 {}\n", value("weightCosine"), value("weightRelL2"));
  fmt::print("rules     {} ({})\n", c.rules_met.empty() ? "none met" : fmt::format("{}", fmt::join(c.rules_met, "; ")),
             c.thresholds.source.empty() ? "given" : shown(c.thresholds.source));
}

}  // namespace

int cmd_validate(const ValidateArgs& args, const Progress& progress) {
  const auto job = load_job(args.job);
  if (!args.sign.empty()) check_signing_key(args.sign);
  // Warnings are not progress: --quiet keeps them.
  for (const auto& w : job.warnings) fmt::print(stderr, "modelgate: warning: {}\n", w);
  RunOptions options;
  options.device = args.device;
  options.seed = args.seed;
  options.records = !args.records.empty();
  options.progress = progress;
  auto result = run_job(job, options);
  const fs::path path = args.report.empty() ? timestamped_report_path(job.report_location, job.name)
                                            : fs::path(args.report);
  if (!args.sign.empty())
    result.report["signature"] = ordered_from(signature_for(nlohmann::json::parse(result.report.dump()), args.sign));
  if (!args.records.empty()) write_atomically(args.records, result.records);
  write_atomically(path, result.report.dump(2) + "\n");
  print_summary(result.report, path);
  return result.exit_code;
}

int cmd_fingerprint(const FingerprintArgs& args, const Progress& progress) {
  if (!args.sign.empty()) check_signing_key(args.sign);
  const auto device = resolve_device(args.device);
  auto model = load_model(args.model, device);
  fingerprint::ProbeSpec spec;
  spec.seed = args.seed;
  spec.synthetic = args.probes;
  if (!args.data.empty()) {
    const auto data = load_dataset(args.data);
    spec.input_shape = data.inputs.sizes().slice(1).vec();
    spec.real = std::min<int64_t>(args.real, data.size());
    spec.data_path = fs::absolute(args.data).lexically_normal().string();
    spec.data_sha256 = fingerprint::file_sha256(args.data);
  } else if (!args.input_shape.empty()) {
    spec.input_shape = args.input_shape;
  } else {
    spec.input_shape = declared_input_shape(model);
    if (spec.input_shape.empty())
      throw InputError(args.model + ": the model does not declare its input shape; pass --data or --input-shape C,H,W");
  }
  spec.boundary.count = args.boundary;
  spec.boundary.epsilon = args.boundary_eps;
  spec.boundary.steps = args.boundary_steps;
  if (spec.boundary.count > spec.synthetic + spec.real)
    throw InputError(fmt::format("--boundary {} needs as many source probes; there are {} (--probes {} + --real {})",
                                 spec.boundary.count, spec.synthetic + spec.real, spec.synthetic, spec.real));
  const auto capturable = fingerprint::capturable_layers(model.module);
  for (const auto& layer : args.layers) {
    if (std::find(capturable.begin(), capturable.end(), layer) == capturable.end())
      throw InputError(fmt::format("--layers: {} has no capturable layer '{}' (see 'modelgate inspect {}'; capturable: {})",
                                   args.model, layer, args.model,
                                   capturable.empty() ? std::string("none") : fmt::format("{}", fmt::join(capturable, ", "))));
  }
  const auto layers = args.layers.empty() ? fingerprint::top_level_layers(capturable) : args.layers;
  progress(fmt::format("fingerprinting {} on {} probes ({} synthetic, {} real, {} boundary) on {}", args.model,
                       spec.total(), spec.synthetic, spec.real, spec.boundary.count, device.str()));
  const auto fp = fingerprint_model(model, spec, layers, device);
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
  const auto j = read_json_file(args.reference, "reference fingerprint");
  if (!args.verify.empty()) verify_document(j, args.verify, args.reference);
  if (!args.sign.empty()) check_signing_key(args.sign);
  const auto reference = parse_fingerprint(j, args.reference);
  fingerprint::Thresholds thresholds = fingerprint::calibrated_thresholds();
  if (!args.thresholds.empty()) {
    try {
      thresholds = fingerprint::thresholds_from_json(read_json_file(args.thresholds, "thresholds file"), args.thresholds);
    } catch (const std::invalid_argument& e) {
      throw InputError(one_line(e));
    }
  }
  fingerprint::Fingerprint candidate;
  std::string device_name = "none (fingerprint file)";
  if (is_fingerprint_file(args.candidate)) {
    candidate = parse_fingerprint(read_json_file(args.candidate, "candidate fingerprint"), args.candidate);
    if (!fingerprint::same_probes(reference.probes, candidate.probes))
      throw InputError(fmt::format("{}: taken on other probes than {} (seed, counts, input shape, data or boundary probes "
                                   "differ); fingerprint the candidate model against the reference instead",
                                   args.candidate, args.reference));
  } else {
    const auto device = resolve_device(args.device);
    device_name = device.str();
    auto model = load_model(args.candidate, device);
    // The reference's layers, as far as the candidate has them; the rest show as unmatched.
    const auto capturable = fingerprint::capturable_layers(model.module);
    std::vector<std::string> layers;
    for (const auto& l : reference.layers) {
      if (std::find(capturable.begin(), capturable.end(), l.name) != capturable.end()) layers.push_back(l.name);
    }
    progress(fmt::format("replaying {} probes of {} on {}", reference.probes.total(), args.reference, args.candidate));
    candidate = fingerprint_model(model, reference.probes, layers, device);
  }
  const auto cmp = fingerprint::compare(reference, candidate, thresholds);
  const auto verdict = fingerprint::to_string(cmp.verdict);
  const int code = cmp.verdict == fingerprint::Verdict::derived     ? 1
                   : cmp.verdict == fingerprint::Verdict::unrelated ? 2
                                                                    : 0;
  nlohmann::json report{{"verdict", verdict},
                        {"exitCode", code},
                        {"tool", {{"name", "modelgate"}, {"version", MODELGATE_VERSION}}},
                        {"environment", environment()},
                        {"device", device_name},
                        {"reference", {{"path", args.reference}, {"rootSha256", reference.root_sha256},
                                       {"modelSha256", reference.model_sha256}}},
                        {"candidate", {{"path", args.candidate}, {"rootSha256", candidate.root_sha256},
                                       {"modelSha256", candidate.model_sha256}}},
                        {"comparison", cmp.to_json()},
                        {"referenceSignature", args.verify.empty() ? "not checked" : "verified"},
                        {"finishedAt", utc_now_iso()}};
  if (!args.sign.empty()) report["signature"] = signature_for(report, args.sign);
  print_comparison(cmp);
  fmt::print("verdict: {}\n", verdict);
  if (!args.report.empty()) {
    write_atomically(args.report, report.dump(2) + "\n");
    fmt::print("report: {}\n", shown(args.report));
  }
  return code;
}

int cmd_keygen(const KeygenArgs& args) {
  generate_keypair(args.out);
  fmt::print("private key: {}.key (mode 0600; keep it secret)\npublic key:  {}.pub\n", args.out, args.out);
  return 0;
}

int cmd_inspect(const InspectArgs& args) {
  const auto model = load_model(args.model, c10::Device(c10::kCPU));
  const auto d = describe(model);
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

}  // namespace modelgate::engine
