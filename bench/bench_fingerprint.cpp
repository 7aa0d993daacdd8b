// Fingerprint cost against a plain forward pass over the same probes (issue target: ≤ 1.2×),
// the share of it spent on the weights (digests, norms, sketches: fixed per model, whatever the
// probe count), and the cost of comparing two fingerprint files (target: < 50 ms), per model.
// Run: build/bench/bench_fingerprint MODEL.pt [MODEL.pt ...] --benchmark_min_time=0.2
// (bench/make_bench_models.py writes the models; results: bench/results/fingerprint.md).
// Each model gets 64 synthetic + 32 boundary probes of the shape its modelgate.json declares;
// the boundary probes are made once, outside the timing, and replayed, as compare does.
#include "fingerprint/fingerprint.h"

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/script.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace fp = modelgate::fingerprint;

namespace {

struct Subject {
  std::string name;
  torch::jit::Module module;
  fp::ProbeSpec spec;  // with its boundary probes already made
  at::Tensor probes;   // synthetic rows
  at::Tensor all;      // synthetic + boundary rows, what one forward pass sees
  std::vector<std::string> layers;
  std::string ref_path, cand_path;
  size_t file_bytes = 0;
};

Subject load(const std::string& path) {
  Subject s;
  s.name = std::filesystem::path(path).stem().string();
  torch::jit::ExtraFilesMap extra{{"modelgate.json", ""}};
  s.module = torch::jit::load(path, c10::kCPU, extra);
  s.module.eval();
  const auto meta = nlohmann::json::parse(extra["modelgate.json"]);
  s.spec.seed = 1;
  s.spec.synthetic = 64;
  s.spec.input_shape = meta.at("input_shape").get<std::vector<int64_t>>();
  s.spec.boundary.count = 32;
  s.probes = fp::synthetic_probes(s.spec);
  std::vector<int64_t> rows(size_t(s.spec.synthetic));
  for (int64_t r = 0; r < s.spec.synthetic; ++r) rows[size_t(r)] = r;
  s.spec.boundary = fp::make_boundary_probes(s.module, s.probes, rows, s.spec.boundary);
  s.all = at::cat({s.probes, fp::boundary_tensor(s.spec)});
  s.layers = fp::default_layers(s.module);
  const auto tmp = std::filesystem::temp_directory_path();
  s.ref_path = (tmp / ("modelgate_bench_" + s.name + ".ref.json")).string();
  s.cand_path = (tmp / ("modelgate_bench_" + s.name + ".cand.json")).string();
  const std::string text = fp::to_json(fp::compute(s.module, s.probes, s.spec, s.layers)).dump(1);
  s.file_bytes = text.size();
  std::ofstream(s.ref_path) << text;
  std::ofstream(s.cand_path) << text;
  return s;
}

nlohmann::json read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

void forward(benchmark::State& state, Subject* s) {
  at::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(s->module.forward({s->all}).toTensor().data_ptr());
}

void fingerprint(benchmark::State& state, Subject* s) {
  for (auto _ : state) benchmark::DoNotOptimize(fp::compute(s->module, s->probes, s->spec, s->layers).root_sha256);
  state.counters["file_KiB"] = double(s->file_bytes) / 1024.0;
  state.counters["layers"] = double(s->layers.size());
}

// The part of a fingerprint that does not grow with the probe count: digests, norms, sketches.
void weights(benchmark::State& state, Subject* s) {
  for (auto _ : state) benchmark::DoNotOptimize(fp::weight_records(s->module, 256, 0).size());
}

void compare_files(benchmark::State& state, Subject* s) {
  for (auto _ : state) {
    const fp::Fingerprint a = fp::from_json(read(s->ref_path)), b = fp::from_json(read(s->cand_path));
    benchmark::DoNotOptimize(fp::compare(a, b).verdict);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> models;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind("--", 0) == 0) {
      rest.push_back(argv[i]);
    } else {
      models.push_back(argv[i]);
    }
  }
  if (models.empty()) {
    std::cerr << "usage: bench_fingerprint MODEL.pt [MODEL.pt ...] [benchmark flags]\n";
    return 2;
  }
  std::vector<std::unique_ptr<Subject>> subjects;
  for (const auto& path : models) subjects.push_back(std::make_unique<Subject>(load(path)));
  for (auto& s : subjects) {
    benchmark::RegisterBenchmark(("forward/" + s->name).c_str(), forward, s.get())->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark(("fingerprint/" + s->name).c_str(), fingerprint, s.get())->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark(("weights/" + s->name).c_str(), weights, s.get())->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark(("compare_files/" + s->name).c_str(), compare_files, s.get())->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  int n = int(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::AddCustomContext("intra_op_threads", std::to_string(at::get_num_threads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
