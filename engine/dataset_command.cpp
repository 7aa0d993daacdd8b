// `modelgate dataset JOB.yaml`: what validate would read from the job's dataset, without
// loading any model; --export writes it as float32 .npy arrays.
#include "corruptions/benchmark.h"
#include "engine/commands.h"
#include "engine/config.h"
#include "engine/data/npy.h"
#include "engine/dataset.h"
#include "engine/errors.h"
#include "engine/monitoring.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <iostream>

namespace modelgate::engine {
namespace fs = std::filesystem;
namespace {

// Streams `count` batches into `path` through a temporary file renamed at the end.
class NpyWriter {
 public:
  NpyWriter(fs::path path, const std::string& descr, const std::vector<int64_t>& shape) : path_(std::move(path)) {
    tmp_ = path_;
    tmp_ += ".partial";
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw InputError(fmt::format("{}: cannot write the file", tmp_.string()));
    write(data::npy_header(descr, shape));
  }
  ~NpyWriter() {
    if (fd_ >= 0) {
      ::close(fd_);
      std::error_code ec;
      fs::remove(tmp_, ec);
    }
  }
  void write(const at::Tensor& t) {
    const auto c = t.contiguous();
    write(std::string_view(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.nbytes())));
  }
  void finish() {
    if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
      fd_ = -1;
      throw RunError(fmt::format("{}: the file could not be written", tmp_.string()));
    }
    fd_ = -1;
    fs::rename(tmp_, path_);
  }

 private:
  void write(std::string_view bytes) {
    while (!bytes.empty()) {
      const auto n = ::write(fd_, bytes.data(), bytes.size());
      if (n <= 0) throw RunError(fmt::format("{}: the file could not be written (disk full?)", tmp_.string()));
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  fs::path path_, tmp_;
  int fd_ = -1;
};

struct Corrupting {
  corruptions::Corruption corruption;
  int severity;
  std::optional<corruptions::Table> table;
  uint64_t seed;
};

std::optional<Corrupting> corrupting(const DatasetArgs& args, uint64_t job_seed) {
  if (args.corrupt.empty()) {
    if (args.severity || !args.parameters.empty()) throw InputError("--severity and --parameters go with --corrupt");
    return std::nullopt;
  }
  if (args.export_dir.empty()) throw InputError("--corrupt applies to what --export writes: give --export DIR");
  const auto c = corruptions::corruption_from(args.corrupt);
  if (!c) throw InputError(fmt::format("--corrupt: '{}' is not one of the corruption benchmark's names", args.corrupt));
  if (!corruptions::implemented(*c))
    throw InputError(fmt::format("--corrupt: {} is not implemented in this version of modelgate yet", args.corrupt));
  if (!args.severity) throw InputError("--corrupt needs --severity 1..5");
  return Corrupting{*c, args.severity, args.parameters.empty() ? std::nullopt : corruptions::table_from(args.parameters),
                    args.seed.value_or(job_seed)};
}

}  // namespace

int cmd_dataset(const DatasetArgs& args, const Progress& progress) {
  const auto job = load_job(args.job);
  const auto corrupt = corrupting(args, job.seed);
  if (!args.export_dir.empty()) {
    std::error_code ec;
    if (fs::exists(args.export_dir, ec) && !fs::is_directory(args.export_dir, ec))
      throw InputError(fmt::format("{}: --export expects a folder", args.export_dir));
    fs::create_directories(args.export_dir, ec);
    if (ec) throw InputError(fmt::format("{}: cannot make the folder: {}", args.export_dir, ec.message()));
    for (const auto& p : job.dataset.read_paths())
      if (fs::equivalent(fs::path(args.export_dir) / "inputs.npy", p, ec) || fs::equivalent(fs::path(args.export_dir) / "labels.npy", p, ec))
        throw InputError(fmt::format("{}: --export would replace the dataset it reads", args.export_dir));
  }
  const auto data = open_dataset(job.dataset);
  if (!args.export_dir.empty() && !data.has_clean_samples)
    throw InputError(fmt::format("{}: --export: the corrupted-npy set has no clean samples (spec.dataset.clean), and its "
                                 "corruption files are .npy already",
                                 data.path.string()));
  const auto shape = data.sample_shape();
  const auto table = corrupt ? corrupt->table.value_or(corruptions::table_for(shape[1], shape[2])) : corruptions::Table::cifar;
  const auto labels = data.labels(0, data.size());
  const auto counts = at::bincount(labels);
  std::vector<int64_t> per_class(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel());
  const int64_t peak = peak_rss_bytes();
  nlohmann::ordered_json j{{"path", data.path.string()},
                           {"format", data::to_string(data.format)},
                           {"storage", data.storage()},
                           {"samples", data.size()},
                           {"fileSamples", data.file_samples()},
                           {"inputShape", shape},
                           {"classes", per_class.size()},
                           {"perClass", per_class},
                           {"skippedFiles", data.skipped_names},
                           {"peakRssBytes", peak}};
  if (data.format == data::Format::corrupted_npy) {  // samples, classes and the export are the clean set's
    j["corruptions"] = job.dataset.corruptions;
    j["severities"] = job.dataset.severities;
    j["clean"] = data.has_clean_samples ? nlohmann::ordered_json(data.clean_path.string()) : nlohmann::ordered_json();
  }
  if (!args.export_dir.empty()) {
    const fs::path dir(args.export_dir);
    std::vector<int64_t> full{data.size()};
    full.insert(full.end(), shape.begin(), shape.end());
    NpyWriter inputs(dir / "inputs.npy", "<f4", full), out_labels(dir / "labels.npy", "<i8", {data.size()});
    constexpr int64_t kBatch = 256;
    for (int64_t first = 0; first < data.size(); first += kBatch) {
      const int64_t len = std::min(kBatch, data.size() - first);
      auto x = data.inputs(first, len);
      // Sample i of the set draws from stream i, as validate's batches do.
      if (corrupt) x = corruptions::corrupt(x, corrupt->corruption, corrupt->severity, table, corrupt->seed, first);
      inputs.write(x);
      progress.tick("export", first + len, data.size(), 0);
    }
    out_labels.write(labels);
    inputs.finish();
    out_labels.finish();
    j["exported"] = {(dir / "inputs.npy").string(), (dir / "labels.npy").string()};
    if (corrupt)
      j["corruption"] = {{"name", args.corrupt}, {"severity", corrupt->severity},
                         {"parameters", corruptions::to_string(table)}, {"seed", corrupt->seed}};
  }
  if (args.json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  fmt::print("{}: {} ({})\n", data.path.string(), data::to_string(data.format), data.storage());
  fmt::print("  samples      {} of {} in the file{}\n", data.size(), data.file_samples(),
             data.skipped_files ? fmt::format(", {} file(s) skipped", data.skipped_files) : "");
  fmt::print("  input shape  [{}]\n", fmt::join(shape, ", "));
  if (data.format == data::Format::corrupted_npy) {
    fmt::print("  corruptions  {} ({} at severities {})\n", job.dataset.corruptions.size(), fmt::join(job.dataset.corruptions, ", "),
               fmt::join(job.dataset.severities, ", "));
    fmt::print("  clean set    {}\n", data.has_clean_samples ? data.clean_path.string() : "none (spec.dataset.clean is not set)");
  }
  fmt::print("  classes      {} (samples per class: {})\n", per_class.size(), fmt::join(per_class, " "));
  for (const auto& f : data.skipped_names) fmt::print("  skipped      {}\n", f);
  fmt::print("  peak memory  {:.0f} MiB\n", static_cast<double>(peak) / 1048576.0);
  if (j.contains("exported")) fmt::print("  exported     {}\n", fmt::join(j["exported"].get<std::vector<std::string>>(), ", "));
  if (corrupt)
    fmt::print("  corruption   {} severity={} ({} parameters, seed {})\n", args.corrupt, corrupt->severity,
               corruptions::to_string(table), corrupt->seed);
  return 0;
}

}  // namespace modelgate::engine
