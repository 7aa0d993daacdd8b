// Throughput of the corruption benchmark's CPU implementation: images per second for each
// implemented corruption at severity 3, on 3×32×32 (CIFAR's table) and 3×224×224 (ImageNet's)
// batches of smooth random images. bench/corruption_agreement.py runs it beside imagecorruptions
// on the same image sizes and cores. Wall-clock times (samples run on ATen's thread pool).
// Run: build/bench/bench_corruptions --benchmark_min_time=0.5
#include "corruptions/benchmark.h"

#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>

#include <string>

namespace mc = modelgate::corruptions;

namespace {

at::Tensor images(int64_t n, int64_t side) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  auto x = at::upsample_bilinear2d(at::rand({n, 3, side / 8, side / 8}, gen), {side, side}, false);
  return (0.8 * x + 0.2 * at::rand({n, 3, side, side}, gen)).clamp(0, 1);
}

void BM_Corruption(benchmark::State& state, mc::Corruption c, int64_t side) {
  const int64_t n = side <= 64 ? 256 : 16;
  const auto x = images(n, side);
  const auto table = mc::table_for(side, side);
  int64_t first = 0;
  for (auto _ : state) {
    auto y = mc::corrupt(x, c, 3, table, 0, first);
    benchmark::DoNotOptimize(y.data_ptr());
    first += n;
  }
  state.SetItemsProcessed(state.iterations() * n);
}

const bool registered = [] {
  for (auto c : mc::all_corruptions()) {
    if (!mc::implemented(c)) continue;
    for (int64_t side : {32, 224})
      benchmark::RegisterBenchmark((std::string(mc::to_string(c)) + "/" + std::to_string(side)).c_str(),
                                   [c, side](benchmark::State& state) { BM_Corruption(state, c, side); })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
