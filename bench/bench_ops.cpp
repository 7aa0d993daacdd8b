// Throughput of the hot-path operators on the CPU: each op's plain-ATen reference composition
// (ref::) against its CPU kernel (through the dispatcher), on the same input. Bytes processed
// count the tensors each op must read and write once, so GB/s compare across the two. Times are
// wall-clock (UseRealTime): the kernels run on ATen's thread pool, not the timing thread.
// Run: build/bench/bench_ops --benchmark_min_time=0.2s   (results: bench/results/cpu_ops.md)
#include "kernels/ops.h"
#include "kernels/reference_ops.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/headeronly/version.h>

#include <string>

namespace mk = modelgate::kernels;
namespace ref = modelgate::kernels::ref;

namespace {

enum class Impl { kReference, kKernel };

at::Tensor uniform(at::IntArrayRef sizes, uint64_t seed) {
  return at::rand(sizes, at::make_generator<at::CPUGeneratorImpl>(seed));
}

// A CIFAR-sized batch: 128×3×32×32 float32.
at::Tensor cifar_batch(uint64_t seed = 0) { return uniform({128, 3, 32, 32}, seed); }

void set_bytes(benchmark::State& state, int64_t bytes_per_iteration) {
  state.SetBytesProcessed(state.iterations() * bytes_per_iteration);
}

void BM_LinfStep(benchmark::State& state, Impl impl) {
  auto x0 = cifar_batch(), grad = cifar_batch(1) - 0.5, x = x0.clone();
  for (auto _ : state) {
    impl == Impl::kReference ? ref::linf_step_(x, grad, x0, 0.01, 0.03) : mk::linf_step_(x, grad, x0, 0.01, 0.03);
    benchmark::DoNotOptimize(x.data_ptr());
  }
  set_bytes(state, 4 * x.nbytes());  // read x, grad, x0; write x
}

void BM_L2Step(benchmark::State& state, Impl impl) {
  auto x0 = cifar_batch(), grad = cifar_batch(1) - 0.5, x = x0.clone();
  for (auto _ : state) {
    impl == Impl::kReference ? ref::l2_step_(x, grad, x0, 0.1, 0.5) : mk::l2_step_(x, grad, x0, 0.1, 0.5);
    benchmark::DoNotOptimize(x.data_ptr());
  }
  set_bytes(state, 4 * x.nbytes());
}

void BM_GaussianNoise(benchmark::State& state, Impl impl) {
  auto x = cifar_batch();
  for (auto _ : state) {
    auto y = impl == Impl::kReference ? ref::gaussian_noise(x, 0.1, 1, 0) : mk::gaussian_noise(x, 0.1, 1, 0);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  set_bytes(state, 2 * x.nbytes());  // read x, write the result
}

void BM_UniformBall(benchmark::State& state, Impl impl) {
  auto x = cifar_batch();
  for (auto _ : state) {
    auto y = impl == Impl::kReference ? ref::uniform_ball(x, 0.03, 1, 0) : mk::uniform_ball(x, 0.03, 1, 0);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  set_bytes(state, x.nbytes());  // write the result (x only gives the shape)
}

void BM_PhiloxBits(benchmark::State& state, Impl impl) {
  auto x = cifar_batch();
  for (auto _ : state) {
    auto y = impl == Impl::kReference ? ref::philox_bits(x, 1, 0) : mk::philox_bits(x, 1, 0);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  set_bytes(state, x.numel() * 4);  // write int32 words
}

void BM_GaussianBlur(benchmark::State& state, Impl impl) {
  auto x = cifar_batch();
  const int64_t k = state.range(0);
  for (auto _ : state) {
    auto y = impl == Impl::kReference ? ref::gaussian_blur(x, k, 0) : mk::gaussian_blur(x, k, 0);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  set_bytes(state, 2 * x.nbytes());
}

void BM_SignSketch(benchmark::State& state, Impl impl) {
  auto x = uniform({128, 4096}, 3) - 0.5;
  for (auto _ : state) {
    auto y = impl == Impl::kReference ? ref::sign_sketch(x, 256, 1) : mk::sign_sketch(x, 256, 1);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  set_bytes(state, x.nbytes());
}

}  // namespace

#define MODELGATE_BENCH_PAIR(fn)                                                   \
  BENCHMARK_CAPTURE(fn, reference, Impl::kReference)->Unit(benchmark::kMicrosecond)->UseRealTime(); \
  BENCHMARK_CAPTURE(fn, cpu_kernel, Impl::kKernel)->Unit(benchmark::kMicrosecond)->UseRealTime()

MODELGATE_BENCH_PAIR(BM_LinfStep);
MODELGATE_BENCH_PAIR(BM_L2Step);
MODELGATE_BENCH_PAIR(BM_GaussianNoise);
MODELGATE_BENCH_PAIR(BM_UniformBall);
MODELGATE_BENCH_PAIR(BM_PhiloxBits);
BENCHMARK_CAPTURE(BM_GaussianBlur, reference, Impl::kReference)->Arg(3)->Arg(5)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_GaussianBlur, cpu_kernel, Impl::kKernel)->Arg(3)->Arg(5)->Unit(benchmark::kMicrosecond)->UseRealTime();
MODELGATE_BENCH_PAIR(BM_SignSketch);

int main(int argc, char** argv) {
  // Thread count is pinned so that results compare across machines with the same core count.
  at::set_num_threads(2);
  benchmark::AddCustomContext("libtorch", std::to_string(TORCH_VERSION_MAJOR) + "." +
                                              std::to_string(TORCH_VERSION_MINOR) + "." +
                                              std::to_string(TORCH_VERSION_PATCH));
  benchmark::AddCustomContext("aten_threads", std::to_string(at::get_num_threads()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
