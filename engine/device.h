#pragma once
#include <c10/core/Device.h>

#include <string>

namespace modelgate::engine {

/// Resolves a device request: "auto" → CUDA when a usable GPU is present, else the CPU;
/// "cpu"; "cuda". Throws InputError for "cuda" without a usable GPU, or an unknown name.
c10::Device resolve_device(const std::string& request);

}  // namespace modelgate::engine
