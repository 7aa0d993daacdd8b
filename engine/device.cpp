#include "engine/device.h"

#include "engine/errors.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <fmt/format.h>
#include <torch/version.h>

namespace modelgate::engine {
namespace {

// CUDART and cuDNN report versions as integers (13000, 91900).
std::string cuda_version(long v) { return fmt::format("{}.{}", v / 1000, (v % 1000) / 10); }
std::string cudnn_version(long v) {
  return v >= 90000 ? fmt::format("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100)
                    : fmt::format("{}.{}.{}", v / 1000, (v % 1000) / 100, v % 100);
}

bool cuda_usable() { return at::hasCUDA() && at::detail::getCUDAHooks().deviceCount() > 0; }

}  // namespace

c10::Device resolve_device(const std::string& request) {
  if (request == "cpu") return c10::Device(c10::kCPU);
  if (request == "cuda" || request == "auto") {
    if (cuda_usable()) return c10::Device(c10::kCUDA, 0);
    if (request == "auto") return c10::Device(c10::kCPU);
    throw InputError("--device cuda: no usable CUDA device (no GPU or NVIDIA driver found); "
                     "use --device cpu or auto");
  }
  throw InputError("--device: expected auto, cpu or cuda, got '" + request + "'");
}

nlohmann::json environment() {
  nlohmann::json j;
  j["modelgate"] = MODELGATE_VERSION;
  j["libtorch"] = TORCH_VERSION;
  const auto& hooks = at::detail::getCUDAHooks();
  const bool built_with_cuda = hooks.versionCUDART() > 0;
  j["cuda"] = built_with_cuda ? nlohmann::json(cuda_version(hooks.versionCUDART())) : nlohmann::json();
  j["cudnn"] = built_with_cuda && hooks.versionCuDNN() > 0 ? nlohmann::json(cudnn_version(hooks.versionCuDNN()))
                                                            : nlohmann::json();
  j["cudaAvailable"] = cuda_usable();
  j["cudaDevices"] = cuda_usable() ? hooks.deviceCount() : 0;
  j["cpuThreads"] = at::get_num_threads();
  return j;
}

std::string version_text() {
  const auto env = environment();
  std::string s = fmt::format("modelgate {}\nLibTorch {}\n", MODELGATE_VERSION, TORCH_VERSION);
  if (env["cuda"].is_null()) {
    s += "CUDA: not compiled in\n";
  } else {
    s += fmt::format("CUDA {} (runtime LibTorch was built with), cuDNN {}\n", env["cuda"].get<std::string>(),
                     env["cudnn"].is_null() ? "none" : env["cudnn"].get<std::string>());
    s += env["cudaAvailable"].get<bool>()
             ? fmt::format("GPU: {} CUDA device(s) usable\n", env["cudaDevices"].get<int>())
             : "GPU: none usable (no device or driver); runs use the CPU\n";
  }
  return s;
}

}  // namespace modelgate::engine
