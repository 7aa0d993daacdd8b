#include "engine/device.h"

#include "engine/environment.h"
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

Environment current_environment() {
  Environment e;
  e.modelgate = MODELGATE_VERSION;
  e.libtorch = TORCH_VERSION;
  const auto& hooks = at::detail::getCUDAHooks();
  if (hooks.versionCUDART() > 0) {
    e.cuda = cuda_version(hooks.versionCUDART());
    if (hooks.versionCuDNN() > 0) e.cudnn = cudnn_version(hooks.versionCuDNN());
  }
  e.cuda_available = cuda_usable();
  e.cuda_devices = e.cuda_available ? hooks.deviceCount() : 0;
  e.cpu_threads = at::get_num_threads();
  return e;
}

std::string version_text() {
  const auto env = current_environment();
  std::string s = fmt::format("modelgate {}\nLibTorch {}\n", env.modelgate, env.libtorch);
  if (!env.cuda) {
    s += "CUDA: not compiled in\n";
  } else {
    s += fmt::format("CUDA {} (runtime LibTorch was built with), cuDNN {}\n", *env.cuda, env.cudnn.value_or("none"));
    s += env.cuda_available ? fmt::format("GPU: {} CUDA device(s) usable\n", env.cuda_devices)
                            : "GPU: none usable (no device or driver); runs use the CPU\n";
  }
  return s;
}

}  // namespace modelgate::engine
