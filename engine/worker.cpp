// `modelgate worker`: the child half of engine/model_host. It warms LibTorch up, confines itself
// (engine/isolation) before it opens (or decrypts, in memory) the model, and then serves one model's requests: describe,
// layers, fingerprint, preflight, evaluate. Errors go back as messages; nothing here writes a file.
#include "engine/dataset.h"
#include "engine/evaluator.h"
#include "engine/device.h"
#include "engine/errors.h"
#include "engine/findings.h"
#include "engine/isolation/confine.h"
#include "engine/model_fingerprint.h"
#include "engine/model_crypto.h"
#include "engine/model_host.h"
#include "engine/monitoring.h"
#include "engine/report/json_report.h"
#include "engine/signals.h"
#include "engine/stop.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <new>

namespace modelgate::engine {
namespace {

nlohmann::json graphs_json(const scan::GraphCheck& g) {
  auto findings = nlohmann::json::array();
  for (const auto& f : g.findings)
    findings.push_back({{"id", f.id}, {"severity", to_string(f.severity)}, {"location", f.location}, {"message", f.message}});
  return {{"nodes", g.nodes}, {"methods", g.methods}, {"findings", findings}};
}

// Everything LibTorch sets up lazily (thread pools, CPU detection, oneDNN), done before the
// sandbox closes, so that none of it needs a file the sandbox does not allow.
void warm_up(const c10::Device& device) {
  const auto x = at::rand({2, 3, 8, 8}, at::TensorOptions().device(device));
  const auto w = at::rand({4, 3, 3, 3}, at::TensorOptions().device(device));
  (void)at::conv2d(x, w).relu().sum().item<float>();
  (void)at::matmul(at::rand({16, 16}), at::rand({16, 16})).sum().item<float>();
}

struct Worker {
  isolation::Channel channel = isolation::child_channel();
  const std::atomic<int>& signal = install_termination_handlers();
  c10::Device device = c10::Device(c10::kCPU);
  std::optional<LoadedModel> model;
  std::optional<JobConfig> job;
  std::optional<Dataset> data;

  const JobConfig& job_for(const std::string& file) {
    if (!job || job->file != file) {
      job = load_job(file);
      data.reset();
    }
    if (!data) data = open_dataset(job->dataset);
    return *job;
  }

  nlohmann::json serve(const nlohmann::json& req) {
    const auto op = req.at("op").get<std::string>();
    if (op == "open") {
      device = c10::Device(req.at("device").get<std::string>());
      at::set_num_threads(req.at("threads").get<int>());
      warm_up(device);
      const auto applied = isolation::confine(isolation::Policy::from_json(req.at("policy")));
      const auto path = req.at("model").get<std::string>();
      if (req.contains("key")) {
        const auto key = SymmetricKey::from_base64(req["key"].get<std::string>(), req.at("keyFile").get<std::string>());
        model = load_encrypted_model(path, key, req.at("maxModelBytes").get<uint64_t>(), device);
      } else {
        model = load_model(path, device);
      }
      if (req.contains("normalize"))
        model->normalize = Normalization{req["normalize"].at("mean").get<std::vector<double>>(),
                                         req["normalize"].at("std").get<std::vector<double>>()};
      const auto graphs = scan::check_graphs(model->module, req.at("graphNodes").get<int64_t>());
      return {{"applied", applied.to_json()}, {"sha256", model->sha256}, {"metadata", model->metadata},
              {"graphs", graphs_json(graphs)}};
    }
    if (!model) throw RunError("the model worker was asked for '" + op + "' before 'open'");
    if (op == "describe") return describe(*model);
    if (op == "layers") return fingerprint::capturable_layers(model->module);
    if (op == "fingerprint") {
      auto spec = fingerprint::probe_spec_from_json(req.at("probes"));
      if (const auto& b = req.at("makeBoundary"); !b.is_null()) {
        spec.boundary.count = b.at("count").get<int64_t>();
        spec.boundary.epsilon = b.at("epsilon").get<double>();
        spec.boundary.steps = b.at("steps").get<int64_t>();
      }
      return fingerprint::to_json(fingerprint_model(*model, spec, req.at("layers").get<std::vector<std::string>>(), device));
    }
    if (op == "preflight") {
      const auto& j = job_for(req.at("job").get<std::string>());
      const auto c = check_model_against_data(*model, *data, j, device);
      return {{"classes", c.classes}, {"probabilityOutputs", c.probability_outputs}, {"sampleSeconds", c.sample_seconds},
              {"sampleBytes", c.sample_bytes}, {"batchSize", c.batch_size}};
    }
    if (op == "evaluate") {
      const auto& j = job_for(req.at("job").get<std::string>());
      StopControl stop(&signal);
      if (req.contains("jobSecondsLeft")) stop.set_job_budget(req["jobSecondsLeft"].get<double>());
      for (const auto& [manifest, left] : req.at("manifestSecondsLeft").items()) stop.set_manifest_budget(manifest, left.get<double>());
      std::string records;
      Progress progress;
      progress.line = [this](const std::string& text) { channel.send({{"progress", text}}); };
      progress.tick = [this](const std::string& what, int64_t done, int64_t total, double seconds) {
        channel.send({{"tick", {what, done, total, seconds}}});
      };
      EvaluationContext ctx{device, req.at("seed").get<uint64_t>(), progress, &stop,
                            req.at("records").get<bool>() ? &records : nullptr, req.at("batchSize").get<int64_t>()};
      const auto& c = req.at("checks");
      ModelChecks checks{c.at("classes").get<int64_t>(), c.at("probabilityOutputs").get<bool>()};
      checks.sample_bytes = c.at("sampleBytes").get<int64_t>();
      auto r = evaluate_model(j, req.at("name").get<std::string>(), *model, *data, ctx);
      for (auto& f : derive_findings(j, r, checks)) r.findings.push_back(std::move(f));
      for (auto& f : monitoring_findings(j, r)) r.findings.push_back(std::move(f));
      return {{"model", nlohmann::json::parse(model_result_json(r).dump())}, {"records", records}, {"spent", stop.spent()}};
    }
    throw RunError("the model worker does not know the request '" + op + "'");
  }
};

}  // namespace

int run_worker() {
  Worker w;
  for (;;) {
    std::optional<nlohmann::json> req;
    try {
      req = w.channel.receive();
    } catch (const std::exception&) {
      return 4;  // the parent sent a broken frame: nothing sensible is left to do
    }
    if (!req || (req->contains("op") && (*req)["op"] == "exit")) return 0;
    nlohmann::json reply;
    try {
      reply = {{"result", w.serve(*req)}};
    } catch (const std::invalid_argument& e) {  // InputError and component-level user errors
      const auto msg = one_line(e);  // a model that fails for want of memory is not an input error
      reply = {{"error", {{"kind", out_of_memory(msg) ? "memory" : "input"}, {"message", msg}}}};
    } catch (const std::bad_alloc&) {
      reply = {{"error", {{"kind", "memory"}, {"message", "std::bad_alloc"}}}};
    } catch (const std::exception& e) {
      const auto msg = one_line(e);
      reply = {{"error", {{"kind", out_of_memory(msg) ? "memory" : "run"}, {"message", msg}}}};
    }
    try {
      w.channel.send(reply);
    } catch (const std::exception&) {
      return 4;  // the parent is gone
    }
  }
}

}  // namespace modelgate::engine
