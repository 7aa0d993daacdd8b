// Wall-clock time of modelgate's PGD on a TorchScript model and a dataset, with and without the
// active set: attacks::run_pgd through the ModelFn the engine's evaluator uses, batch by batch,
// as `modelgate validate` runs it (minus the clean forward pass the evaluator adds for scoring).
// Prints one JSON object per mode on stdout. bench/attack_speed.py drives it side by side with
// torchattacks and the textbook loop; results: bench/results/attack_speed_cpu.md.
//   build/bench/bench_attack --model M.pt --data D.npz --eps 0.1 --alpha 0.025 --steps 10 --threads 2
#include "attacks/pgd.h"
#include "engine/dataset.h"
#include "engine/evaluator.h"
#include "engine/model.h"
#include "kernels/ops.h"

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace ma = modelgate::attacks;
namespace me = modelgate::engine;

namespace {

struct Counts {
  int64_t robust_any = 0;   // correct at every evaluated iterate (modelgate's headline count)
  int64_t robust_last = 0;  // correct at the last iterate (what torchattacks reports)
  bool has_last = false;
};

Counts attack_all(const ma::ModelFn& fn, const me::Dataset& data, int64_t limit, int64_t batch,
                  const ma::PgdOptions& opts) {
  Counts c;
  for (int64_t first = 0; first < limit; first += batch) {
    const int64_t len = std::min(batch, limit - first);
    const auto x = data.inputs(first, len);
    const auto y = data.labels(first, len);
    const auto r = ma::run_pgd(fn, x, y, opts, first);
    c.robust_any += r.fooled.logical_not().sum().item<int64_t>();
    if (r.last_fooled.defined()) {
      c.robust_last += r.last_fooled.logical_not().sum().item<int64_t>();
      c.has_last = true;
    }
  }
  return c;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times modelgate's PGD (plain and with the active set) on a TorchScript model", "bench_attack"};
  std::string model_path, data_path, norm = "linf", mode = "both";
  double eps = 0.1, alpha = 0.025;
  int64_t steps = 10, batch = 128, limit = 0, repeats = 3, warmup = 1;
  std::optional<int> threads;
  app.add_option("--model", model_path, "TorchScript model (.pt)")->required();
  app.add_option("--data", data_path, "Dataset (.npz or .pt with inputs and labels)")->required();
  app.add_option("--eps", eps, "Radius");
  app.add_option("--alpha", alpha, "Step size");
  app.add_option("--steps", steps, "PGD steps")->check(CLI::Range(1, 100000));
  app.add_option("--norm", norm, "linf or l2")->check(CLI::IsMember({"linf", "l2"}));
  app.add_option("--batch", batch, "Batch size")->check(CLI::Range(1, 1 << 20));
  app.add_option("--limit", limit, "Attack only the first N samples (0: all)")->check(CLI::Range(0, 1 << 30));
  app.add_option("--repeats", repeats, "Timed runs per mode")->check(CLI::Range(1, 1000));
  app.add_option("--warmup", warmup, "Untimed runs per mode first (TorchScript profiles its first calls)")
      ->check(CLI::Range(0, 1000));
  app.add_option("--threads", threads, "at::set_num_threads (default: LibTorch's)")->check(CLI::Range(1, 1024));
  app.add_option("--mode", mode, "plain, active or both")->check(CLI::IsMember({"plain", "active", "both"}));
  CLI11_PARSE(app, argc, argv);

  try {
    if (threads) at::set_num_threads(*threads);
    const c10::Device cpu(c10::kCPU);
    auto model = me::load_model(model_path, cpu);
    const auto data = me::load_dataset(data_path);
    if (limit == 0 || limit > data.size()) limit = data.size();
    const me::ModelEvaluator evaluator(model, data, cpu, batch, me::Progress{});
    const ma::ModelFn& fn = evaluator.fn();

    ma::PgdOptions opts;
    opts.norm = norm == "l2" ? ma::Norm::l2 : ma::Norm::linf;
    opts.epsilon = eps;
    opts.step_size = alpha;
    opts.steps = steps;
    opts.random_start = false;
    opts.restarts = 1;

    std::vector<bool> modes;
    if (mode != "active") modes.push_back(false);
    if (mode != "plain") modes.push_back(true);
    for (bool active : modes) {
      opts.active_set = active;
      for (int64_t i = 0; i < warmup; ++i) attack_all(fn, data, limit, batch, opts);
      std::vector<double> seconds;
      Counts c;
      for (int64_t i = 0; i < repeats; ++i) {
        const auto start = std::chrono::steady_clock::now();
        c = attack_all(fn, data, limit, batch, opts);
        seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
      nlohmann::json out{{"method", active ? "modelgate-active-set" : "modelgate-plain"},
                         {"samples", limit},
                         {"batch", batch},
                         {"threads", at::get_num_threads()},
                         {"kernelThreads", modelgate::kernels::cpu_kernel_threads()},
                         {"seconds", seconds},
                         {"median", median(seconds)},
                         {"robustAny", c.robust_any},
                         {"robustLast", c.has_last ? nlohmann::json(c.robust_last) : nlohmann::json()}};
      std::cout << out.dump() << std::endl;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_attack: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
