#pragma once
// What the run's machine and build were: recorded in every report.
#include <cstdint>
#include <optional>
#include <string>

namespace modelgate::engine {

/// Versions of modelgate, LibTorch, the CUDA runtime and cuDNN it was built with, and
/// whether a GPU could be used.
struct Environment {
  std::string modelgate;
  std::string libtorch;
  std::optional<std::string> cuda;   ///< CUDA runtime LibTorch was built with; none for CPU builds
  std::optional<std::string> cudnn;
  bool cuda_available = false;
  int64_t cuda_devices = 0;
  int64_t cpu_threads = 1;
};

/// The environment of this process now.
Environment current_environment();

/// The text of `modelgate --version`.
std::string version_text();

}  // namespace modelgate::engine
