#pragma once
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <string>

namespace modelgate::engine {

/// Resolves a device request: "auto" → CUDA when a usable GPU is present, else the CPU;
/// "cpu"; "cuda". Throws InputError for "cuda" without a usable GPU, or an unknown name.
c10::Device resolve_device(const std::string& request);

/// Versions of modelgate, LibTorch, the CUDA runtime and cuDNN it was built with, and
/// whether a GPU can be used now.
nlohmann::json environment();

/// The text of `modelgate --version`.
std::string version_text();

}  // namespace modelgate::engine
