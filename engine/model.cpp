#include "engine/model.h"

#include "engine/errors.h"
#include "engine/json_depth.h"
#include "engine/model_crypto.h"
#include "engine/text_scan.h"
#include "fingerprint/fingerprint.h"
#include "fingerprint/hashing.h"

#include <caffe2/serialize/read_adapter_interface.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace modelgate::engine {
namespace fs = std::filesystem;

namespace {

// A model's bytes in memory, as LibTorch's archive reader reads them.
class MemoryAdapter : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit MemoryAdapter(std::string_view bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    n = std::min<size_t>(n, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  std::string_view bytes_;
};

// A model file through one open descriptor: what is hashed is what is loaded, even if the path
// is renamed over meanwhile.
class FdAdapter : public caffe2::serialize::ReadAdapterInterface {
 public:
  FdAdapter(int fd, size_t size) : fd_(fd), size_(size) {}
  ~FdAdapter() override { ::close(fd_); }
  size_t size() const override { return size_; }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    size_t got = 0;
    while (got < n) {
      const auto r = ::pread(fd_, static_cast<char*>(buf) + got, n - got, static_cast<off_t>(pos + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  }

 private:
  int fd_;
  size_t size_;
};

// Loads through `load` (from a file or from memory), in eval mode, with the modelgate.json metadata.
template <typename Load>
void load_into(LoadedModel& m, const c10::Device& device, Load load) {
  torch::jit::ExtraFilesMap extra{{"modelgate.json", ""}};
  try {
    m.module = load(device, extra);
  } catch (const std::exception& e) {
    throw InputError(fmt::format("{}: not a loadable TorchScript archive ({})", m.path.string(), one_line(e)));
  }
  m.module.eval();
  const auto& meta = extra["modelgate.json"];
  if (!meta.empty()) {
    if (json_too_deep(meta))
      throw InputError(fmt::format("{}: its modelgate.json nests deeper than {} levels", m.path.string(), kMaxJsonDepth));
    m.metadata = nlohmann::json::parse(meta, nullptr, /*allow_exceptions=*/false);
    if (m.metadata.is_discarded()) m.metadata = nullptr;
  }
}

}  // namespace

LoadedModel load_model(const fs::path& path, const c10::Device& device) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path.string() + ": model file not found");
  if (!fs::is_regular_file(path, ec)) throw InputError(path.string() + ": not a regular file");
  if (fs::file_size(path, ec) == 0) throw InputError(path.string() + ": model file is empty");
  if (is_encrypted_model(path))
    throw InputError(path.string() + ": an encrypted model: give it a key (the job entry's key, or a ModelStorageEncryption "
                                     "manifest's key folder), or decrypt it with 'modelgate decrypt'");
  LoadedModel m;
  m.path = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(fmt::format("{}: cannot open the model: {}", path.string(), std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InputError(path.string() + ": not a regular file");
  }
  auto adapter = std::make_shared<FdAdapter>(fd, static_cast<size_t>(st.st_size));
  m.sha256 = fingerprint::fd_sha256(fd, path.string());
  load_into(m, device, [&](const c10::Device& d, torch::jit::ExtraFilesMap& extra) {
    return torch::jit::load(adapter, d, extra);
  });
  return m;
}

LoadedModel load_model_from_bytes(const fs::path& path, std::string_view bytes, const c10::Device& device) {
  if (bytes.empty()) throw InputError(path.string() + ": model file is empty");
  LoadedModel m;
  m.path = path;
  m.sha256 = fingerprint::sha256_hex(bytes.data(), bytes.size());
  load_into(m, device, [&](const c10::Device& d, torch::jit::ExtraFilesMap& extra) {
    return torch::jit::load(std::make_shared<MemoryAdapter>(bytes), d, extra);
  });
  return m;
}

LoadedModel load_encrypted_model(const fs::path& path, const SymmetricKey& key, uint64_t max_bytes, const c10::Device& device) {
  const auto decrypted = decrypt_model_file(path, key, max_bytes);
  return load_model_from_bytes(path, decrypted.plaintext.view(), device);
}

at::Tensor model_input(const LoadedModel& model, const at::Tensor& x) {
  if (!model.normalize) return x;
  const auto& n = *model.normalize;
  if (x.dim() != 4 || x.size(1) != static_cast<int64_t>(n.mean.size()))
    throw InputError(fmt::format("{}: normalize has {} channels, the input has shape [{}]", model.path.string(), n.mean.size(),
                                 fmt::join(x.sizes(), ", ")));
  const auto opts = at::TensorOptions().dtype(x.scalar_type()).device(x.device());
  const auto c = static_cast<int64_t>(n.mean.size());
  const auto mean = at::tensor(n.mean, at::kDouble).to(opts).view({1, c, 1, 1});
  const auto std = at::tensor(n.std, at::kDouble).to(opts).view({1, c, 1, 1});
  return (x - mean) / std;
}

at::Tensor forward_logits(LoadedModel& model, const at::Tensor& x) {
  const auto path = model.path.string();
  c10::IValue out;
  try {
    out = model.module.forward({model_input(model, x)});
  } catch (const std::exception& e) {
    throw InputError(fmt::format("{}: the model rejects inputs of shape [{}]: {}", path,
                                 fmt::join(x.sizes(), ", "), one_line(e)));
  }
  if (!out.isTensor())
    throw InputError(fmt::format("{}: forward() must return one tensor of logits, returned {}", path,
                                 out.tagKind()));
  auto logits = out.toTensor();
  if (logits.dim() != 2 || logits.size(0) != x.size(0))
    throw InputError(fmt::format("{}: expected N×K logits for a batch of {}, got shape [{}]", path,
                                 x.size(0), fmt::join(logits.sizes(), ", ")));
  return logits;
}

std::vector<int64_t> declared_input_shape(const nlohmann::json& metadata) {
  std::vector<int64_t> shape;
  if (metadata.is_object() && metadata.contains("input_shape") && metadata["input_shape"].is_array()) {
    for (const auto& d : metadata["input_shape"])
      if (d.is_number_integer()) shape.push_back(d.get<int64_t>());
  }
  return shape;
}

namespace {

std::string type_name(const torch::jit::Module& m) {
  auto name = m.type()->name() ? m.type()->name()->qualifiedName() : std::string("Module");
  // Drops "___torch_mangle_<n>." wherever it is and a leading "__torch__.".
  std::string out;
  for (size_t i = 0; i < name.size();) {
    TextCursor c{name, i};
    if (c.lit("___torch_mangle_") && c.digits() && c.lit(".")) {
      i = c.i;
      continue;
    }
    out += name[i++];
  }
  if (out.rfind("__torch__.", 0) == 0) out.erase(0, 10);
  return out;
}

int64_t count_params(const torch::jit::Module& m, bool recurse) {
  int64_t n = 0;
  for (const auto& p : m.parameters(recurse)) n += p.numel();
  return n;
}

}  // namespace

nlohmann::json describe(const LoadedModel& model) {
  nlohmann::json j;
  j["path"] = model.path.string();
  j["sha256"] = model.sha256;
  j["type"] = type_name(model.module);
  j["parameterCount"] = count_params(model.module, true);
  int64_t buffers = 0;
  for (const auto& b : model.module.buffers(true)) buffers += b.numel();
  j["bufferElements"] = buffers;
  auto subs = nlohmann::json::array();
  for (const auto& nm : model.module.named_modules()) {
    if (nm.name.empty()) continue;
    nlohmann::json s{{"name", nm.name}, {"type", type_name(nm.value)},
                     {"parameters", count_params(nm.value, false)}};
    auto params = nlohmann::json::array();
    for (const auto& p : nm.value.named_parameters(false))
      params.push_back({{"name", p.name}, {"shape", p.value.sizes().vec()}});
    s["tensors"] = params;
    subs.push_back(s);
  }
  j["submodules"] = subs;
  j["capturableLayers"] = fingerprint::capturable_layers(model.module);
  const auto shape = declared_input_shape(model.metadata);
  nlohmann::json input;
  if (!shape.empty()) {
    input["shape"] = shape;
    input["source"] = "modelgate.json metadata in the archive";
  } else {
    // Without metadata, the first convolution or linear layer tells the channel/feature count.
    for (const auto& p : model.module.named_parameters(true)) {
      if (p.name.size() >= 7 && p.name.compare(p.name.size() - 7, 7, ".weight") == 0 && p.value.dim() >= 2) {
        input[p.value.dim() == 4 ? "channels" : "features"] = p.value.size(1);
        input["source"] = "inferred from " + p.name;
        break;
      }
    }
  }
  input["dtype"] = "float32";
  input["range"] = {0, 1};
  j["input"] = input;
  if (!model.metadata.is_null()) j["metadata"] = model.metadata;
  return j;
}

}  // namespace modelgate::engine
