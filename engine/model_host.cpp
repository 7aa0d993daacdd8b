#include "engine/model_host.h"

#include "engine/errors.h"
#include "engine/findings.h"
#include "engine/model_fingerprint.h"
#include "engine/dataset.h"
#include "engine/monitoring.h"
#include "engine/report/json_report.h"
#include "fingerprint/fingerprint.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cmath>
#include <limits>

namespace modelgate::engine {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

std::string self_exe() {
  std::error_code ec;
  const auto p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw RunError("cannot find modelgate's own executable to start the model worker (/proc/self/exe)");
  return p.string();
}

uint64_t default_memory_limit() {
  const auto pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 4 * 3 : (8ull << 30);
}

std::string seconds_text(double s) { return s >= 60 && std::fmod(s, 60) == 0 ? fmt::format("{} min", s / 60) : fmt::format("{} s", s); }

// The sandbox of one worker: it may read the model, the files the request names and the
// runtime's own libraries (confine() adds those); on a GPU, also the NVIDIA device nodes.
isolation::Policy worker_policy(const fs::path& model, const c10::Device& device, const HostSettings& s) {
  isolation::Policy p;
  p.read_paths.push_back(fs::absolute(model));
  for (const auto& r : s.read_paths) p.read_paths.push_back(fs::absolute(r));
  if (device.is_cuda()) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/dev", ec))
      if (e.path().filename().string().rfind("nvidia", 0) == 0) p.device_paths.push_back(e.path());
    for (const char* r : {"/proc/driver/nvidia", "/sys/bus/pci", "/sys/devices", "/proc/self/task"}) p.read_paths.emplace_back(r);
  } else {
    // CUDA reserves far more address space than it uses, so RLIMIT_AS applies on the CPU only.
    p.memory_bytes = s.isolation.memory_bytes.value_or(default_memory_limit());
  }
  p.cpu_seconds = s.isolation.cpu_seconds;
  return p;
}

}  // namespace

ModelHost::ModelHost(ModelHost&&) noexcept = default;
ModelHost& ModelHost::operator=(ModelHost&&) noexcept = default;
ModelHost::~ModelHost() {
  if (worker_) {
    try {
      worker_->send({{"op", "exit"}});
      worker_->next(5.0);
    } catch (...) {  // a worker that is already gone or will not listen is killed below
    }
  }
}

ModelHost ModelHost::open(const fs::path& path, const c10::Device& device, const HostSettings& settings) {
  ModelHost h;
  h.path_ = path;
  h.device_ = device;
  h.settings_ = settings;
  h.isolation_.process = settings.isolation.process;
  h.isolation_.timeouts = fmt::format("load {}, each evaluation {}", seconds_text(settings.isolation.load_seconds),
                                      seconds_text(settings.isolation.evaluation_seconds));
  if (!settings.isolation.process) {
    h.local_ = std::make_unique<LoadedModel>(settings.key ? load_encrypted_model(path, *settings.key, settings.max_model_bytes, device)
                                                          : load_model(path, device));
    h.local_->normalize = settings.normalize;
    h.sha256_ = h.local_->sha256;
    h.metadata_ = h.local_->metadata;
    h.graphs_ = scan::check_graphs(h.local_->module, settings.graph_node_limit);
    h.isolation_.landlock = h.isolation_.seccomp = "not applied: the model ran in modelgate's own process (isolation: none)";
    h.isolation_.memory = h.isolation_.cpu = "no limit";
    return h;
  }
  h.worker_ = std::make_unique<isolation::Worker>(isolation::Worker::spawn({self_exe(), "worker"}));
  nlohmann::json open{{"op", "open"},
                      {"model", fs::absolute(path).string()},
                      {"device", device.str()},
                      {"threads", at::get_num_threads()},
                      {"policy", worker_policy(path, device, settings).to_json()},
                      {"graphNodes", settings.graph_node_limit}};
  // The worker decrypts the model itself, confined, from the file it may read anyway: the key
  // travels over the pipe, so the key file stays outside the sandbox.
  if (settings.normalize) open["normalize"] = {{"mean", settings.normalize->mean}, {"std", settings.normalize->std}};
  if (settings.key)
    open.update({{"key", settings.key->to_base64()}, {"keyFile", settings.key->file().string()},
                 {"maxModelBytes", settings.max_model_bytes}});
  const auto reply = h.call(open, settings.isolation.load_seconds, nullptr);
  const auto applied = isolation::Applied::from_json(reply.at("applied"));
  h.isolation_.landlock = applied.landlock;
  h.isolation_.seccomp = applied.seccomp;
  h.isolation_.memory = applied.memory;
  h.isolation_.cpu = applied.cpu;
  h.sha256_ = reply.at("sha256").get<std::string>();
  h.metadata_ = reply.at("metadata");
  const auto& g = reply.at("graphs");
  h.graphs_.nodes = g.at("nodes").get<int64_t>();
  h.graphs_.methods = g.at("methods").get<int64_t>();
  for (const auto& f : g.at("findings"))
    h.graphs_.findings.push_back({f.at("id").get<std::string>(), *severity_from_string(f.at("severity").get<std::string>()),
                                  f.at("location").get<std::string>(), f.at("message").get<std::string>()});
  return h;
}

nlohmann::json ModelHost::call(const nlohmann::json& request, double timeout_seconds, const Progress* progress) {
  const auto op = request.at("op").get<std::string>();
  const auto what = fmt::format("{} ({})", path_.string(), op == "open" ? "loading" : op);
  try {
    worker_->send(request);
  } catch (const std::exception& e) {
    throw WorkerFailure("isolation/crashed", fmt::format("{}: the model worker is gone: {}", what, e.what()));
  }
  // The clock restarts at each finished evaluation: the limit is per evaluation, not per call.
  auto started = Clock::now();
  for (;;) {
    const double left = timeout_seconds - std::chrono::duration<double>(Clock::now() - started).count();
    isolation::Event ev;
    try {
      ev = worker_->next(std::max(left, 0.0), settings_.signal);
    } catch (const std::exception& e) {
      worker_->kill();
      throw WorkerFailure("isolation/protocol", fmt::format("{}: the model worker sent a malformed message: {}", what, e.what()));
    }
    using Kind = isolation::Event::Kind;
    if (ev.kind == Kind::timed_out) {
      worker_->kill();
      throw WorkerFailure("isolation/timeout", fmt::format("{}: no reply within {}: the worker was killed", what, seconds_text(timeout_seconds)));
    }
    if (ev.kind == Kind::exited || ev.kind == Kind::crashed) {
      const bool cpu = ev.kind == Kind::crashed && ev.signal == SIGXCPU && settings_.isolation.cpu_seconds;
      throw WorkerFailure(cpu ? "isolation/cpu-limit" : "isolation/crashed",
                          fmt::format("{}: the model worker {}", what, ev.describe()));
    }
    const auto& m = ev.message;
    if (m.contains("progress")) {
      if (progress) progress->line(m["progress"].get<std::string>());
      started = Clock::now();
    } else if (m.contains("tick")) {
      const auto& t = m["tick"];
      if (progress) progress->tick(t.at(0).get<std::string>(), t.at(1).get<int64_t>(), t.at(2).get<int64_t>(), t.at(3).get<double>());
    } else if (m.contains("error")) {
      const auto kind = m["error"].at("kind").get<std::string>();
      const auto message = m["error"].at("message").get<std::string>();
      if (kind == "input") throw InputError(message);
      if (kind == "memory")
        throw WorkerFailure("isolation/memory-limit", fmt::format("{}: the model ran out of its memory limit: {}", what, message));
      throw RunError(message);
    } else if (m.contains("result")) {
      return m["result"];
    } else {
      worker_->kill();
      throw WorkerFailure("isolation/protocol", fmt::format("{}: the model worker sent an unknown message", what));
    }
  }
}

nlohmann::json ModelHost::describe() {
  if (local_) return engine::describe(*local_);
  return call({{"op", "describe"}}, settings_.isolation.load_seconds, nullptr);
}

std::vector<std::string> ModelHost::capturable_layers() {
  if (local_) return fingerprint::capturable_layers(local_->module);
  return call({{"op", "layers"}}, settings_.isolation.load_seconds, nullptr).get<std::vector<std::string>>();
}

fingerprint::Fingerprint ModelHost::fingerprint(const fingerprint::ProbeSpec& spec, const std::vector<std::string>& layers) {
  if (local_) return fingerprint_model(*local_, spec, layers, device_);
  // Boundary probes still to be made travel as their parameters; made ones, as their inputs.
  auto to_send = spec;
  nlohmann::json make_boundary;
  if (spec.boundary.count > 0 && spec.boundary.inputs.empty()) {
    make_boundary = {{"count", spec.boundary.count}, {"epsilon", spec.boundary.epsilon}, {"steps", spec.boundary.steps}};
    to_send.boundary = {};
    to_send.boundary.count = 0;
  }
  const auto j = call({{"op", "fingerprint"}, {"probes", fingerprint::to_json(to_send)}, {"makeBoundary", make_boundary},
                       {"layers", layers}},
                      settings_.isolation.evaluation_seconds, nullptr);
  return fingerprint::from_json(j);
}

ModelChecks ModelHost::preflight(const JobConfig& job, const Dataset& data) {
  if (local_) return check_model_against_data(*local_, data, job, device_);
  const auto j = call({{"op", "preflight"}, {"job", fs::absolute(job.file).string()}}, settings_.isolation.load_seconds, nullptr);
  ModelChecks c{j.at("classes").get<int64_t>(), j.at("probabilityOutputs").get<bool>(), j.at("sampleSeconds").get<double>()};
  c.sample_bytes = j.at("sampleBytes").get<int64_t>();
  c.batch_size = j.at("batchSize").get<int64_t>();
  return c;
}

ModelResult ModelHost::evaluate(const JobConfig& job, const Dataset& data, const std::string& name, const ModelChecks& checks,
                                const EvaluationContext& ctx, std::map<std::string, double>& spent,
                                std::optional<double> job_seconds_left, const std::map<std::string, double>& manifest_seconds_left) {
  if (local_) {
    auto r = evaluate_model(job, name, *local_, data, ctx);
    for (auto& f : derive_findings(job, r, checks)) r.findings.push_back(std::move(f));
    for (auto& f : monitoring_findings(job, r)) r.findings.push_back(std::move(f));
    return r;
  }
  nlohmann::json request{{"op", "evaluate"},
                         {"job", fs::absolute(job.file).string()},
                         {"name", name},
                         {"seed", ctx.seed},
                         {"records", ctx.records != nullptr},
                         {"checks", {{"classes", checks.classes}, {"probabilityOutputs", checks.probability_outputs},
                                     {"sampleBytes", checks.sample_bytes}}},
                         {"batchSize", ctx.batch_size},
                         {"manifestSecondsLeft", manifest_seconds_left}};
  if (job_seconds_left) request["jobSecondsLeft"] = *job_seconds_left;
  const auto j = call(request, settings_.isolation.evaluation_seconds, &ctx.progress);
  auto r = model_result_from_json(nlohmann::ordered_json::parse(j.at("model").dump()), path_.string() + " (worker)");
  if (ctx.records) *ctx.records += j.at("records").get<std::string>();
  for (const auto& [manifest, seconds] : j.at("spent").items()) spent[manifest] += seconds.get<double>();
  return r;
}

}  // namespace modelgate::engine
