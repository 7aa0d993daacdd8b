#include "engine/config_dataset.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <memory>

namespace modelgate::engine::fields {
namespace {

constexpr int64_t kMaxImageSide = 8192;

// A list of `count` positive numbers (or any count when 0).
std::vector<double> numbers(const Doc& d, const YAML::Node& n, const std::string& field, bool positive) {
  if (!n.IsSequence() || n.size() == 0 || n.size() > 16)
    d.fail(n, field, "expected a list of 1 to 16 numbers, one per channel, such as [0.485, 0.456, 0.406]");
  std::vector<double> out;
  for (size_t i = 0; i < n.size(); ++i) {
    const auto f = fmt::format("{}[{}]", field, i);
    const double v = number(d, n[i], f);
    if (positive && !(v > 0)) d.fail(n[i], f, fmt::format("expected a positive number, got {}", scalar_text(n[i])));
    out.push_back(v);
  }
  return out;
}

// How to read one set: spec.dataset, or spec.dataset.clean (`p` is the field prefix).
data::DatasetSpec read_source(const Doc& d, const YAML::Node& ds, const std::string& p, const fs::path& base) {
  data::DatasetSpec s;
  s.path = resolve(base, text(d, require(d, ds, "path", p), p + "path"));
  if (const auto& f = ds["format"]) {
    s.format = data::parse_format(text(d, f, p + "format"));
    if (!s.format)
      d.fail(f, p + "format", fmt::format("expected npz, npy, pt, cifar-bin, imagefolder or corrupted-npy, got '{}'", f.Scalar()));
  }
  std::optional<data::Format> format;  // what the checks below can know now; the path may not exist yet
  try {
    format = s.format_of();
  } catch (const InputError&) {
  }
  auto only_for = [&](const char* key, std::initializer_list<data::Format> formats) {
    const auto& n = ds[key];
    if (!n || !format) return;
    for (auto f : formats)
      if (*format == f) return;
    std::vector<std::string> names;
    for (auto f : formats) names.push_back(data::to_string(f));
    d.fail(n, p + key, fmt::format("applies to the {} format{}, and this dataset is {}", fmt::join(names, ", "),
                                   names.size() > 1 ? "s" : "", data::to_string(*format)));
  };
  using data::Format;
  only_for("layout", {Format::npz, Format::npy, Format::pt, Format::corrupted_npy});
  only_for("labelsPath", {Format::npy});
  only_for("labels", {Format::cifar_bin});
  only_for("resize", {Format::imagefolder});
  only_for("centerCrop", {Format::imagefolder});
  only_for("onError", {Format::imagefolder});
  only_for("channels", {Format::imagefolder});
  only_for("corruptions", {Format::corrupted_npy});
  only_for("severities", {Format::corrupted_npy});
  only_for("clean", {Format::corrupted_npy});
  if (const auto& n = ds["layout"]) {
    const auto v = text(d, n, p + "layout");
    if (v == "nchw") s.layout = data::Layout::nchw;
    else if (v == "nhwc") s.layout = data::Layout::nhwc;
    else d.fail(n, p + "layout", fmt::format("expected nchw or nhwc, got '{}'", v));
  }
  if (const auto& n = ds["labelsPath"]) s.labels_path = resolve(base, text(d, n, p + "labelsPath"));
  if (const auto& n = ds["labels"]) {
    const auto v = text(d, n, p + "labels");
    if (v != "fine" && v != "coarse")
      d.fail(n, p + "labels", fmt::format("expected fine or coarse (CIFAR-100's two label bytes), got '{}'", v));
    s.cifar100 = v;
  }
  if (const auto& n = ds["resize"]) s.resize = integer(d, n, p + "resize", 1, kMaxImageSide);
  if (const auto& n = ds["centerCrop"]) s.center_crop = integer(d, n, p + "centerCrop", 1, kMaxImageSide);
  if (const auto& n = ds["channels"]) {
    s.channels = integer(d, n, p + "channels", 1, 3);
    if (s.channels == 2) d.fail(n, p + "channels", "expected 1 (grey) or 3 (RGB), got 2");
  }
  if (const auto& n = ds["onError"]) {
    const auto v = text(d, n, p + "onError");
    if (v != "error" && v != "skip") d.fail(n, p + "onError", fmt::format("expected error or skip, got '{}'", v));
    s.skip_bad_files = v == "skip";
  }
  return s;
}

// corrupted-npy: corruptions (a list of file stems, or all), severities (1..5, or a list; default
// all five) and clean (a path, or a map read like spec.dataset).
void read_corrupted(const Doc& d, const YAML::Node& ds, const std::string& p, const fs::path& base, data::DatasetSpec& s) {
  const auto& c = ds["corruptions"];
  if (c && !(c.IsScalar() && c.Scalar() == "all")) {
    if (!c.IsSequence() || c.size() == 0)
      d.fail(c, p + "corruptions", "expected all, or a list of corruption names such as [fog, gaussian_noise] (the files' stems)");
    for (size_t i = 0; i < c.size(); ++i) {
      const auto f = fmt::format("{}corruptions[{}]", p, i);
      const auto name = text(d, c[i], f);
      if (name.empty() || name == "labels" || name.find_first_of("/\\") != std::string::npos || name[0] == '.')
        d.fail(c[i], f, fmt::format("'{}' is not a corruption file's stem (such as fog for fog.npy)", name));
      if (std::find(s.corruptions.begin(), s.corruptions.end(), name) != s.corruptions.end())
        d.fail(c[i], f, fmt::format("'{}' is listed twice", name));
      s.corruptions.push_back(name);
    }
  } else {
    s.corruptions = data::stored_corruptions(s.path);  // none when the folder is not there yet: opening it says so
  }
  if (const auto& n = ds["severities"]) {
    s.severities = severity_levels(d, n, p + "severities", data::kStoredSeverities);
  } else {
    for (int64_t level = 1; level <= data::kStoredSeverities; ++level) s.severities.push_back(level);
  }
  if (const auto& n = ds["clean"]) {
    const auto f = p + "clean.";
    if (n.IsScalar()) {
      auto clean = std::make_shared<data::DatasetSpec>();
      clean->path = resolve(base, text(d, n, p + "clean"));
      s.clean = clean;
    } else if (n.IsMap()) {
      d.warn_unknown(n, f, {"path", "format", "layout", "labels", "labelsPath", "resize", "centerCrop", "channels", "onError"});
      s.clean = std::make_shared<data::DatasetSpec>(read_source(d, n, f, base));
    } else {
      d.fail(n, p + "clean", "expected a path (such as cifar-10-batches-bin/test_batch.bin) or a map like spec.dataset");
    }
  }
}

}  // namespace

void read_dataset(const Doc& d, const YAML::Node& ds, const fs::path& base, JobConfig& job) {
  const std::string p = "spec.dataset.";
  if (!ds.IsMap()) d.fail(ds, "spec.dataset", "expected a map such as {path: data/test.npz}");
  d.warn_unknown(ds, p, {"path", "batchSize", "format", "layout", "labels", "labelsPath", "resize", "centerCrop", "channels", "onError",
                         "limit", "sample", "memoryBudget", "corruptions", "severities", "clean"});
  auto s = read_source(d, ds, p, base);
  if (const auto& n = ds["batchSize"]) {
    if (n.IsScalar() && n.Scalar() == "auto") job.batch_auto = true;
    else job.batch_size = integer(d, n, p + "batchSize", 1);
  }
  if (const auto& n = ds["memoryBudget"]) {
    if (!job.batch_auto) d.fail(n, p + "memoryBudget", "applies to batchSize: auto");
    job.memory_budget = byte_size(d, n, p + "memoryBudget");
  }
  if (const auto& n = ds["limit"]) s.limit = integer(d, n, p + "limit", 1, int64_t{1} << 40);
  if (const auto& n = ds["sample"]) {
    if (!n.IsMap()) d.fail(n, p + "sample", "expected a map such as {n: 1000, seed: 0}");
    d.warn_unknown(n, p + "sample.", {"n", "seed"});
    data::SampleSpec sample;
    sample.n = integer(d, require(d, n, "n", p + "sample."), p + "sample.n", 1, int64_t{1} << 40);
    if (n["seed"]) sample.seed = static_cast<uint64_t>(integer(d, n["seed"], p + "sample.seed", 0, int64_t{1} << 53));
    s.sample = sample;
  }
  bool corrupted = false;
  try {
    corrupted = s.format_of() == data::Format::corrupted_npy;
  } catch (const InputError&) {
  }
  if (corrupted) {
    s.format = data::Format::corrupted_npy;
    read_corrupted(d, ds, p, base, s);
    // One robustness entry per (corruption, severity), under the ValidationJob's budget.
    for (const auto& c : s.corruptions)
      for (const auto level : s.severities) {
        CorruptionPlan plan;
        plan.kind = CorruptionKind::stored;
        plan.source = fmt::format("{}: spec.dataset ({}.npy)", d.label, c);
        plan.name = c;
        plan.corruption_severity = level;
        job.corruptions.push_back(plan);
      }
  }
  job.dataset = s;
}

ModelEntry read_model_entry(const Doc& d, const YAML::Node& m, const std::string& f, const fs::path& base) {
  d.warn_unknown(m, f, {"name", "path", "key", "normalize", "inputShape"});
  ModelEntry e;
  e.path = resolve(base, text(d, require(d, m, "path", f), f + "path"));
  if (m["key"]) e.key = resolve(base, text(d, m["key"], f + "key"));
  e.name = m["name"] ? text(d, m["name"], f + "name") : e.path.stem().string();
  if (const auto& n = m["normalize"]) {
    if (!n.IsMap()) d.fail(n, f + "normalize", "expected a map such as {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}");
    d.warn_unknown(n, f + "normalize.", {"mean", "std"});
    Normalization norm;
    norm.mean = numbers(d, require(d, n, "mean", f + "normalize."), f + "normalize.mean", false);
    norm.std = numbers(d, require(d, n, "std", f + "normalize."), f + "normalize.std", true);
    if (norm.mean.size() != norm.std.size())
      d.fail(n, f + "normalize", fmt::format("mean has {} values and std {}: one each per channel", norm.mean.size(),
                                             norm.std.size()));
    e.normalize = norm;
  }
  if (const auto& n = m["inputShape"]) {
    if (!n.IsSequence() || n.size() != 3) d.fail(n, f + "inputShape", "expected [C, H, W], such as [3, 224, 224]");
    for (size_t i = 0; i < 3; ++i)
      e.input_shape.push_back(integer(d, n[i], fmt::format("{}inputShape[{}]", f, i), 1, kMaxImageSide));
  }
  return e;
}

}  // namespace modelgate::engine::fields
