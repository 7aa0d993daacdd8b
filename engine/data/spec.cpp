#include "engine/data/spec.h"
#include "engine/data/source.h"

#include "engine/errors.h"

#include <fmt/format.h>

namespace modelgate::engine::data {
namespace fs = std::filesystem;

std::string to_string(Format f) {
  switch (f) {
    case Format::npz: return "npz";
    case Format::npy: return "npy";
    case Format::pt: return "pt";
    case Format::cifar_bin: return "cifar-bin";
    case Format::imagefolder: return "imagefolder";
    case Format::corrupted_npy: return "corrupted-npy";
  }
  return "?";
}

std::optional<Format> parse_format(const std::string& name) {
  for (auto f : {Format::npz, Format::npy, Format::pt, Format::cifar_bin, Format::imagefolder, Format::corrupted_npy})
    if (to_string(f) == name) return f;
  return std::nullopt;
}

Format DatasetSpec::format_of() const {
  if (format) return *format;
  std::error_code ec;
  if (fs::is_directory(path, ec))
    return fs::is_regular_file(path / "labels.npy", ec) ? Format::corrupted_npy : Format::imagefolder;
  const auto ext = path.extension().string();
  if (ext == ".npz") return Format::npz;
  if (ext == ".npy") return Format::npy;
  if (ext == ".pt" || ext == ".pth") return Format::pt;
  if (ext == ".bin") return Format::cifar_bin;
  throw InputError(fmt::format("{}: cannot tell the dataset format from the name; set spec.dataset.format to one of "
                               "npz, npy, pt, cifar-bin, imagefolder, corrupted-npy",
                               path.string()));
}

fs::path DatasetSpec::npy_labels() const {
  std::error_code ec;
  if (format == Format::corrupted_npy || (!format && fs::is_directory(path, ec))) return path / "labels.npy";
  return labels_path.empty() ? path.parent_path() / "labels.npy" : labels_path;
}

fs::path DatasetSpec::corruption_file(const std::string& corruption) const { return path / (corruption + ".npy"); }

std::vector<fs::path> DatasetSpec::read_paths() const {
  std::vector<fs::path> out{path};
  try {
    if (format_of() == Format::npy) out.push_back(npy_labels());
    if (clean)
      for (const auto& p : clean->read_paths()) out.push_back(p);
  } catch (const InputError&) {
    // no format: opening the dataset says so; the path alone is what may be read
  }
  return out;
}

std::string Source::describe(int64_t i) const { return fmt::format("sample {}", i); }

}  // namespace modelgate::engine::data
