#include "kernels/ops.h"

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <atomic>

namespace modelgate::kernels {
namespace {

template <typename Signature>
c10::TypedOperatorHandle<Signature> op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

// Seeds are uint64 in the engine and int64 in schemas; the bit pattern is what counts.
int64_t as_int(uint64_t seed) { return static_cast<int64_t>(seed); }

}  // namespace

at::Tensor& linf_step_(at::Tensor& x, const at::Tensor& grad, const at::Tensor& x0, double alpha,
                       double eps) {
  static const auto h = op<at::Tensor&(at::Tensor&, const at::Tensor&, const at::Tensor&, double, double)>(
      "modelgate::linf_step_");
  return h.call(x, grad, x0, alpha, eps);
}

at::Tensor& l2_step_(at::Tensor& x, const at::Tensor& grad, const at::Tensor& x0, double alpha,
                     double eps) {
  static const auto h = op<at::Tensor&(at::Tensor&, const at::Tensor&, const at::Tensor&, double, double)>(
      "modelgate::l2_step_");
  return h.call(x, grad, x0, alpha, eps);
}

at::Tensor gaussian_noise(const at::Tensor& x, double level, uint64_t seed, int64_t first_index) {
  static const auto h = op<at::Tensor(const at::Tensor&, double, int64_t, int64_t)>("modelgate::gaussian_noise");
  return h.call(x, level, as_int(seed), first_index);
}

at::Tensor uniform_ball(const at::Tensor& x, double eps, uint64_t seed, int64_t first_index) {
  static const auto h = op<at::Tensor(const at::Tensor&, double, int64_t, int64_t)>("modelgate::uniform_ball");
  return h.call(x, eps, as_int(seed), first_index);
}

at::Tensor philox_bits(const at::Tensor& x, uint64_t seed, int64_t first_index) {
  static const auto h = op<at::Tensor(const at::Tensor&, int64_t, int64_t)>("modelgate::philox_bits");
  return h.call(x, as_int(seed), first_index);
}

at::Tensor gaussian_blur(const at::Tensor& x, int64_t k, double sigma) {
  static const auto h = op<at::Tensor(const at::Tensor&, int64_t, double)>("modelgate::gaussian_blur");
  return h.call(x, k, sigma);
}

at::Tensor sign_sketch(const at::Tensor& x, int64_t bits, uint64_t seed) {
  static const auto h = op<at::Tensor(const at::Tensor&, int64_t, int64_t)>("modelgate::sign_sketch");
  return h.call(x, bits, as_int(seed));
}

const std::vector<std::string>& operator_names() {
  static const std::vector<std::string> names{"linf_step_",    "l2_step_",      "gaussian_noise", "uniform_ball",
                                              "philox_bits",   "gaussian_blur", "sign_sketch"};
  return names;
}

std::string backend_for(const std::string& name, c10::DeviceType device) {
  const auto handle = c10::Dispatcher::singleton().findSchemaOrThrow(("modelgate::" + name).c_str(), "");
  if (device == c10::DeviceType::CUDA && handle.hasKernelForDispatchKey(c10::DispatchKey::CUDA)) return "cuda";
  if (device == c10::DeviceType::CPU && handle.hasKernelForDispatchKey(c10::DispatchKey::CPU)) return "cpu";
  return "reference";
}

bool cuda_kernels_compiled() {
#ifdef MODELGATE_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int64_t cpu_kernel_threads() {
  // Compiled in this library, so it sees the same OpenMP flags as the CPU kernels: without
  // -fopenmp every chunk runs on the calling thread.
  const int64_t threads = at::get_num_threads();
  std::atomic<int64_t> highest{0};
  at::parallel_for(0, 64 * threads, 1, [&](int64_t, int64_t) {
    const int64_t id = at::get_thread_num();
    int64_t seen = highest.load();
    while (id > seen && !highest.compare_exchange_weak(seen, id)) {
    }
  });
  return highest.load() + 1;
}

}  // namespace modelgate::kernels
