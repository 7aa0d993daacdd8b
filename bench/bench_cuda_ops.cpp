// Throughput of the hot-path operators on a CUDA device: each op's plain-ATen reference
// composition (ref:: on CUDA tensors) against its CUDA kernel (through the dispatcher), on
// the same input, and both against device-to-device copy bandwidth (BM_CopyD2D: dst.copy_(src),
// bytes read + written). Bytes processed count the tensors each op must read and write once,
// so `frac_of_copy` = (op bytes/s) ÷ (copy bytes/s) says how close an op runs to the memory
// system's practical limit (targets: noise, blur, linf_step ≥ 0.8).
// Times are CUDA events around each call on the current stream (UseManualTime).
// Without a CUDA device every benchmark reports "no CUDA device" and the program exits 0.
// Run: build/bench/bench_cuda_ops --benchmark_counters_tabular=true
#include "kernels/ops.h"
#include "kernels/reference_ops.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>
#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/cuda.h>
#include <torch/headeronly/version.h>

#include <string>
#include <utility>

namespace mk = modelgate::kernels;
namespace ref = modelgate::kernels::ref;

namespace {

enum class Impl { kReference, kKernel };

const at::Device kCuda(at::kCUDA, 0);

at::Tensor uniform(at::IntArrayRef sizes, uint64_t seed) {
  return at::rand(sizes, at::make_generator<at::CPUGeneratorImpl>(seed)).to(kCuda);
}

// An ImageNet-sized batch: 256×3×224×224 float32 (154 MB).
at::Tensor imagenet_batch(uint64_t seed = 0) { return uniform({256, 3, 224, 224}, seed); }

// Seconds one call of `op` takes on the device, from CUDA events on the current stream.
template <typename Op>
double device_seconds(Op&& op) {
  const c10::impl::VirtualGuardImpl guard(c10::DeviceType::CUDA);
  const c10::Stream stream = guard.getStream(kCuda);
  c10::Event start(c10::DeviceType::CUDA, c10::EventFlag::BACKEND_DEFAULT);
  c10::Event stop(c10::DeviceType::CUDA, c10::EventFlag::BACKEND_DEFAULT);
  start.record(stream);
  op();
  stop.record(stream);
  stop.synchronize();
  return start.elapsedTime(stop) / 1e3;
}

// Device-to-device copy bandwidth (bytes read + written per second) on the benchmark batch,
// measured once per process: the yardstick of frac_of_copy.
double copy_bytes_per_second() {
  static const double bps = [] {
    const auto src = imagenet_batch();
    auto dst = at::empty_like(src);
    for (int i = 0; i < 3; ++i) dst.copy_(src);  // warm-up
    double seconds = 0;
    constexpr int kRuns = 20;
    for (int i = 0; i < kRuns; ++i) seconds += device_seconds([&] { dst.copy_(src); });
    return 2.0 * static_cast<double>(src.nbytes()) * kRuns / seconds;
  }();
  return bps;
}

// Runs the timed loop: `op` once to warm up, then once per iteration between events.
template <typename Op>
void run(benchmark::State& state, int64_t bytes_per_call, Op&& op) {
  op();
  double total = 0;
  for (auto _ : state) {
    const double s = device_seconds(op);
    state.SetIterationTime(s);
    total += s;
  }
  state.SetBytesProcessed(state.iterations() * bytes_per_call);
  if (total > 0) {
    const double bps = static_cast<double>(bytes_per_call) * static_cast<double>(state.iterations()) / total;
    state.counters["GBps"] = bps / 1e9;
    state.counters["frac_of_copy"] = bps / copy_bytes_per_second();
  }
}

#define MODELGATE_NEED_CUDA(state)           \
  if (!torch::cuda::is_available()) {        \
    (state).SkipWithError("no CUDA device"); \
    return;                                  \
  }

void BM_CopyD2D(benchmark::State& state) {
  MODELGATE_NEED_CUDA(state);
  const auto src = imagenet_batch();
  auto dst = at::empty_like(src);
  run(state, 2 * src.nbytes(), [&] { dst.copy_(src); });
}

void BM_LinfStep(benchmark::State& state, Impl impl) {
  MODELGATE_NEED_CUDA(state);
  auto x0 = imagenet_batch(), grad = imagenet_batch(1) - 0.5, x = x0.clone();
  run(state, 4 * x.nbytes(), [&] {  // read x, grad, x0; write x
    impl == Impl::kReference ? ref::linf_step_(x, grad, x0, 0.01, 0.03) : mk::linf_step_(x, grad, x0, 0.01, 0.03);
  });
}

void BM_L2Step(benchmark::State& state, Impl impl) {
  MODELGATE_NEED_CUDA(state);
  auto x0 = imagenet_batch(), grad = imagenet_batch(1) - 0.5, x = x0.clone();
  run(state, 4 * x.nbytes(),
      [&] { impl == Impl::kReference ? ref::l2_step_(x, grad, x0, 0.1, 0.5) : mk::l2_step_(x, grad, x0, 0.1, 0.5); });
}

void BM_GaussianNoise(benchmark::State& state, Impl impl) {
  MODELGATE_NEED_CUDA(state);
  const auto x = imagenet_batch();
  run(state, 2 * x.nbytes(), [&] {  // read x, write the result
    auto y = impl == Impl::kReference ? ref::gaussian_noise(x, 0.1, 1, 0) : mk::gaussian_noise(x, 0.1, 1, 0);
    benchmark::DoNotOptimize(y.data_ptr());
  });
}

void BM_UniformBall(benchmark::State& state, Impl impl) {
  MODELGATE_NEED_CUDA(state);
  const auto x = imagenet_batch();
  run(state, x.nbytes(), [&] {  // write the result (x only gives the shape)
    auto y = impl == Impl::kReference ? ref::uniform_ball(x, 0.03, 1, 0) : mk::uniform_ball(x, 0.03, 1, 0);
    benchmark::DoNotOptimize(y.data_ptr());
  });
}

void BM_PhiloxBits(benchmark::State& state, Impl impl) {
  MODELGATE_NEED_CUDA(state);
  const auto x = imagenet_batch();
  run(state, x.numel() * 4, [&] {  // write int32 words
    auto y = impl == Impl::kReference ? ref::philox_bits(x, 1, 0) : mk::philox_bits(x, 1, 0);
    benchmark::DoNotOptimize(y.data_ptr());
  });
}

void BM_GaussianBlur(benchmark::State& state, Impl impl) {
  MODELGATE_NEED_CUDA(state);
  const auto x = imagenet_batch();
  const int64_t k = state.range(0);
  run(state, 2 * x.nbytes(), [&] {
    auto y = impl == Impl::kReference ? ref::gaussian_blur(x, k, 0) : mk::gaussian_blur(x, k, 0);
    benchmark::DoNotOptimize(y.data_ptr());
  });
}

void BM_SignSketch(benchmark::State& state, Impl impl) {
  MODELGATE_NEED_CUDA(state);
  const auto x = uniform({256, 65536}, 3) - 0.5;
  constexpr int64_t kBits = 256;
  run(state, x.nbytes(), [&] {
    auto y = impl == Impl::kReference ? ref::sign_sketch(x, kBits, 1) : mk::sign_sketch(x, kBits, 1);
    benchmark::DoNotOptimize(y.data_ptr());
  });
  // Compute-bound: the ±1 multiply-adds per second say more than bytes.
  state.counters["Gmacs"] = benchmark::Counter(static_cast<double>(x.numel() * kBits) * state.iterations() / 1e9,
                                               benchmark::Counter::kIsRate);
}

}  // namespace

#define MODELGATE_BENCH_PAIR(fn)                                                                      \
  BENCHMARK_CAPTURE(fn, reference, Impl::kReference)->Unit(benchmark::kMicrosecond)->UseManualTime(); \
  BENCHMARK_CAPTURE(fn, cuda_kernel, Impl::kKernel)->Unit(benchmark::kMicrosecond)->UseManualTime()

BENCHMARK(BM_CopyD2D)->Unit(benchmark::kMicrosecond)->UseManualTime();
MODELGATE_BENCH_PAIR(BM_LinfStep);
MODELGATE_BENCH_PAIR(BM_L2Step);
MODELGATE_BENCH_PAIR(BM_GaussianNoise);
MODELGATE_BENCH_PAIR(BM_UniformBall);
MODELGATE_BENCH_PAIR(BM_PhiloxBits);
// clang-format off
BENCHMARK_CAPTURE(BM_GaussianBlur, reference, Impl::kReference)
    ->Arg(3)->Arg(5)->Arg(11)->Arg(21)->Unit(benchmark::kMicrosecond)->UseManualTime();
BENCHMARK_CAPTURE(BM_GaussianBlur, cuda_kernel, Impl::kKernel)
    ->Arg(3)->Arg(5)->Arg(11)->Arg(21)->Unit(benchmark::kMicrosecond)->UseManualTime();
// clang-format on
MODELGATE_BENCH_PAIR(BM_SignSketch);

int main(int argc, char** argv) {
  // As the engine runs: no TF32 in cuDNN or cuBLAS (the blur reference's convolutions).
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  benchmark::AddCustomContext("libtorch", std::to_string(TORCH_VERSION_MAJOR) + "." +
                                              std::to_string(TORCH_VERSION_MINOR) + "." +
                                              std::to_string(TORCH_VERSION_PATCH));
  benchmark::AddCustomContext("cuda_devices", std::to_string(torch::cuda::device_count()));
  benchmark::AddCustomContext("cuda_kernels_compiled", mk::cuda_kernels_compiled() ? "yes" : "no");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
