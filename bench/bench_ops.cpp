// Throughput of the hot-path operators (bytes read + written per second), reference ATen
// compositions on the CPU. Run: build/bench/bench_ops --benchmark_counters_tabular=true
#include "kernels/ops.h"

#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>

namespace mk = modelgate::kernels;

namespace {

// A CIFAR-sized batch: N×3×32×32 float32.
at::Tensor batch(int64_t n) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  return at::rand({n, 3, 32, 32}, gen);
}

void set_bytes(benchmark::State& state, const at::Tensor& x, int tensors_touched) {
  state.SetBytesProcessed(state.iterations() * x.nbytes() * tensors_touched);
}

void BM_LinfStep(benchmark::State& state) {
  auto x0 = batch(state.range(0));
  auto grad = at::randn_like(x0);
  auto x = x0.clone();
  for (auto _ : state) {
    mk::linf_step_(x, grad, x0, 0.01, 0.03);
    benchmark::DoNotOptimize(x.data_ptr());
  }
  set_bytes(state, x0, 4);  // read x, grad, x0; write x
}

void BM_GaussianBlur(benchmark::State& state) {
  auto x = batch(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(mk::gaussian_blur(x, state.range(1), 0).data_ptr());
  set_bytes(state, x, 2);
}

void BM_GaussianNoise(benchmark::State& state) {
  auto x = batch(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(mk::gaussian_noise(x, 0.1, 0, 0).data_ptr());
  set_bytes(state, x, 2);
}

}  // namespace

BENCHMARK(BM_LinfStep)->Arg(128)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GaussianBlur)->Args({128, 3})->Args({128, 5})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GaussianNoise)->Arg(128)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
