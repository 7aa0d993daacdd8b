#pragma once
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>

#include "engine/normalization.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace modelgate::engine {

/// A TorchScript model loaded for evaluation (eval mode, on one device).
struct LoadedModel {
  std::filesystem::path path;
  std::string sha256;         ///< digest of the file as loaded
  torch::jit::Module module;
  nlohmann::json metadata;    ///< the archive's extra file modelgate.json, or null
  std::optional<Normalization> normalize;  ///< applied to every input before forward()
};

/// `x` as the model is given it: normalised when the model's entry says so.
at::Tensor model_input(const LoadedModel& model, const at::Tensor& x);

/// Loads a TorchScript archive onto `device` and puts it in eval mode. Throws InputError
/// naming the file for a missing, empty, truncated or non-TorchScript file.
LoadedModel load_model(const std::filesystem::path& path, const c10::Device& device);

/// The same from a model's bytes in memory (a decrypted model), named `path` in messages and
/// the result; nothing is read from or written to the disk. `bytes` must outlive the call only:
/// LibTorch copies every tensor out of it.
LoadedModel load_model_from_bytes(const std::filesystem::path& path, std::string_view bytes, const c10::Device& device);

class SymmetricKey;

/// Decrypts the encrypted model `path` with `key` in memory (engine/model_crypto.h; at most
/// `max_bytes` of plaintext) and loads it with load_model_from_bytes; the plaintext is wiped
/// once LibTorch has copied the tensors out. InputError for a wrong key or an altered file.
LoadedModel load_encrypted_model(const std::filesystem::path& path, const SymmetricKey& key, uint64_t max_bytes,
                                 const c10::Device& device);

/// Runs the model on a batch (normalised as its entry says) and returns its N×K logits. Throws
/// InputError when the model rejects the input (shape, channels) or returns something other
/// than one N×K tensor.
at::Tensor forward_logits(LoadedModel& model, const at::Tensor& x);

/// The per-sample input shape a model expects, from its modelgate.json `metadata`; empty if
/// the archive does not say.
std::vector<int64_t> declared_input_shape(const nlohmann::json& metadata);

/// What `modelgate inspect` shows: submodules, parameter counts, buffers, capturable layers
/// and input expectations.
nlohmann::json describe(const LoadedModel& model);

}  // namespace modelgate::engine
