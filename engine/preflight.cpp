#include "engine/preflight.h"

#include "engine/errors.h"

#include <fmt/format.h>
#include <torch/csrc/autograd/autograd.h>

#include <ATen/DeviceAccelerator.h>
#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>

#include <algorithm>
#include <fstream>
#include <chrono>
#include <limits>

namespace modelgate::engine {
namespace {

// Softmax outputs (rows of non-negative values summing to 1) instead of logits: cross-entropy
// on probabilities has vanishing gradients, so attacks look weaker than they are.
bool looks_like_probabilities(const at::Tensor& logits) {
  if (logits.size(1) < 2) return false;
  const auto v = logits.to(at::kDouble);
  return v.min().item<double>() >= 0 && (v.sum(1) - 1).abs().max().item<double>() < 1e-4;
}

// Seconds of one forward and backward (the gradient an attack step takes) per sample: the faster
// of two runs on up to 16 samples, so that the first call's warm-up is not counted.
double time_gradient_pass(LoadedModel& model, const Dataset& data, const JobConfig& job, const c10::Device& device) {
  const int64_t n = std::min<int64_t>({data.size(), job.batch_size, 16});
  const auto x = data.inputs(0, n).to(device).detach().requires_grad_(true);
  double best = std::numeric_limits<double>::infinity();
  // A model without a gradient to its input fails in its attacks, where the report says so;
  // its pace is then unknown (0) and nothing is estimated for it.
  if (!forward_logits(model, x).requires_grad()) return 0;
  // TorchScript's executor profiles and optimises on its first runs: one untimed pass, then the
  // fastest of three (the least disturbed by other work on the machine).
  for (int i = 0; i < 4; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const auto loss = forward_logits(model, x).sum();
    const auto grad = torch::autograd::grad({loss}, {x}, {}, false, false, true)[0];
    if (grad.defined()) grad.sum().item<double>();  // waits for the device
    if (i > 0) best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best / static_cast<double>(n);
}

constexpr auto kAggregate = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);

// LibTorch's CPU allocator reports every allocation and free made while a memory reporter is
// installed (the profiler's hook) with the bytes then allocated: the peak over a pass.
struct CpuPeak : c10::MemoryReportingInfoBase {
  int64_t peak = 0;
  void reportMemoryUsage(void*, int64_t, size_t total_allocated, size_t, c10::Device) override {
    peak = std::max(peak, static_cast<int64_t>(total_allocated));
  }
  bool memoryProfilingEnabled() const override { return true; }
};

// Memory one sample's forward and backward take: the allocator's peak over a gradient pass on
// up to 16 samples, per sample (on the CPU, allocations made on this thread; the intra-op
// threads' scratch is not seen). 0 for a model without a gradient.
int64_t measure_sample_bytes(LoadedModel& model, const Dataset& data, const c10::Device& device) {
  const int64_t n = std::min<int64_t>(data.size(), 16);
  const auto batch = data.inputs(0, n);
  if (device.is_cuda()) {
    const auto x = batch.to(device).detach().requires_grad_(true);
    at::accelerator::synchronizeDevice(device.index());
    const auto before = at::accelerator::getDeviceStats(device.index());
    const auto base = before.allocated_bytes[kAggregate].current;
    at::accelerator::resetPeakStats(device.index());
    const auto logits = forward_logits(model, x);
    if (!logits.requires_grad()) return 0;
    torch::autograd::grad({logits.sum()}, {x});
    at::accelerator::synchronizeDevice(device.index());
    const auto peak = at::accelerator::getDeviceStats(device.index()).allocated_bytes[kAggregate].peak;
    return std::max<int64_t>(0, (peak - base) / n);
  }
  auto meter = std::make_shared<CpuPeak>();
  {
    c10::DebugInfoGuard guard(c10::DebugInfoKind::PROFILER_STATE, meter);
    const auto x = batch.clone().requires_grad_(true);  // counted, and freed inside, like everything of the pass
    const auto logits = forward_logits(model, x);
    if (!logits.requires_grad()) return 0;
    torch::autograd::grad({logits.sum()}, {x});
  }
  return meter->peak / n;
}

}  // namespace

uint64_t batch_memory_budget(const JobConfig& job, const c10::Device& device) {
  if (job.memory_budget) return *job.memory_budget;
  if (device.is_cuda()) return static_cast<uint64_t>(0.8 * static_cast<double>(at::accelerator::getMemoryInfo(device.index()).first));
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  while (meminfo >> key) {
    if (key == "MemAvailable:") {
      meminfo >> kb;
      break;
    }
    meminfo.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return kb ? kb * 1024 / 2 : (2ull << 30);
}

ModelChecks check_model_against_data(LoadedModel& model, const Dataset& data, const JobConfig& job,
                                     const c10::Device& device) {
  const auto probe = data.inputs(0, std::min<int64_t>(2, data.size())).to(device);
  at::Tensor logits;
  {
    at::NoGradGuard no_grad;
    logits = forward_logits(model, probe);
  }
  // With InferenceMonitoring, non-finite outputs are what its error rate measures, not a failure.
  if (!job.inference && !at::isfinite(logits).all().item<bool>())
    throw RunError(fmt::format("{}: produced NaN or infinite logits on the first samples of {}", model.path.string(),
                               data.path.string()));
  check_labels(data, logits.size(1), model.path.string());
  for (const auto& a : job.attacks)
    if (a.target == attacks::Target::label && a.target_label >= logits.size(1))
      throw InputError(fmt::format("{}: attack target class {} is outside the {} classes of {}", job.file.string(),
                                   a.target_label, logits.size(1), model.path.string()));
  ModelChecks c{logits.size(1), looks_like_probabilities(logits), time_gradient_pass(model, data, job, device)};
  c.batch_size = job.batch_size;
  if (job.batch_auto) {
    // The largest batch whose gradient passes fit the budget, up to the dataset and 1024; an
    // attack holds a few input-sized tensors besides (x, δ, its gradient), counted in.
    const auto input_bytes = static_cast<int64_t>(data.inputs(0, 1).nbytes());
    c.sample_bytes = measure_sample_bytes(model, data, device);
    const int64_t cap = std::min<int64_t>(data.size(), 1024);
    c.batch_size = c.sample_bytes > 0
                       ? std::clamp<int64_t>(static_cast<int64_t>(batch_memory_budget(job, device) /
                                                                  static_cast<uint64_t>(c.sample_bytes + 4 * input_bytes)),
                                             1, cap)
                       : std::min<int64_t>(cap, job.batch_size);
  }
  return c;
}

}  // namespace modelgate::engine
