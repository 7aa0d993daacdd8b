#include "engine/evaluator.h"

#include "engine/errors.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <ATen/DeviceAccelerator.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <utility>

namespace modelgate::engine {
namespace {
using Clock = std::chrono::steady_clock;

// Thrown by the fault-injection hook as an allocator would.
struct InjectedOutOfMemory : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace

bool out_of_memory(const std::string& what) {
  return what.find("not enough memory") != std::string::npos || what.find("bad_alloc") != std::string::npos ||
         what.find("can't allocate memory") != std::string::npos || what.find("out of memory") != std::string::npos;
}

ModelEvaluator::ModelEvaluator(LoadedModel& model, const Dataset& data, c10::Device device, int64_t batch_size,
                               Progress progress)
    : model_(model), data_(&data), device_(device), batch_size_(batch_size), limit_(batch_size),
      progress_(std::move(progress)) {
  // A test hook: a device that fits at most N samples a batch (engine tests and test_datasets.py).
  if (const char* v = std::getenv("MODELGATE_FAULT_OOM_ABOVE")) fault_oom_above_ = std::atoll(v);
  fn_ = [this](const at::Tensor& x) { return model_.module.forward({model_input(model_, x)}).toTensor(); };
}

double ModelEvaluator::for_each_batch(
    const std::string& what, const std::function<void(const at::Tensor&, const at::Tensor&, int64_t)>& body,
    const Dataset* over) {
  const Dataset& data = over ? *over : *data_;
  const auto start = Clock::now();
  const int64_t n = data.size();
  const int64_t batches = (n + batch_size_ - 1) / batch_size_;
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  // The next batch is read (decoded, converted) on another thread while this one is evaluated.
  auto read = [this, n, &data](int64_t b) {
    const int64_t first = b * batch_size_;
    const int64_t len = std::min(batch_size_, n - first);
    return std::async(std::launch::async, [&data, first, len] {
      return std::make_pair(data.inputs(first, len), data.labels(first, len));
    });
  };
  auto next = read(0);
  for (int64_t b = 0; b < batches; ++b) {
    auto [x, y] = next.get();
    if (b + 1 < batches) next = read(b + 1);
    // On a stop or a failure, `next` (a std::async future) waits for its read as it goes.
    if (stop_check_) stop_check_(elapsed());
    run_within_memory(what, x, y, b * batch_size_, body);
    progress_.tick(what, b + 1, batches, elapsed());
  }
  return elapsed();
}

void ModelEvaluator::run_within_memory(const std::string& what, const at::Tensor& x, const at::Tensor& y, int64_t first,
                                       const std::function<void(const at::Tensor&, const at::Tensor&, int64_t)>& body) {
  const int64_t n = x.size(0);
  if (n > limit_) {  // an earlier batch ran out of memory at this size: run in pieces from the start
    for (int64_t k = 0; k < n; k += limit_) {
      const int64_t len = std::min(limit_, n - k);
      run_within_memory(what, x.narrow(0, k, len), y.narrow(0, k, len), first + k, body);
    }
    return;
  }
  std::string reason;
  try {
    if (fault_oom_above_ > 0 && n > fault_oom_above_)
      throw InjectedOutOfMemory(fmt::format("out of memory (injected by MODELGATE_FAULT_OOM_ABOVE={})", fault_oom_above_));
    body(x.to(device_), y.to(device_), first);
    return;
  } catch (const std::exception& e) {
    reason = one_line(e);
    if (n == 1 || !out_of_memory(reason)) throw;
  }
  // Nothing of the failed piece was counted (each body adds its counts only once it is through).
  if (device_.is_cuda()) at::accelerator::emptyCache();
  const int64_t half = (n + 1) / 2;
  limit_ = std::min(limit_, half);
  retries_.push_back({what, first, n, half, reason});
  progress_.line(fmt::format("{}: samples {}..{} ran out of memory at batch {}: running them at {}", what, first,
                             first + n - 1, n, half));
  run_within_memory(what, x.narrow(0, 0, half), y.narrow(0, 0, half), first, body);
  run_within_memory(what, x.narrow(0, half, n - half), y.narrow(0, half, n - half), first + half, body);
}

void ModelEvaluator::guarded(const std::string& what, int64_t first, int64_t len,
                             const std::function<void()>& step) const {
  try {
    step();
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::exception& e) {
    if (out_of_memory(one_line(e))) throw;  // run_within_memory halves the batch
    throw RunError(fmt::format("{}: {} failed on samples {}..{}: {}", model_.path.string(), what, first,
                               first + len - 1, one_line(e)));
  }
}

Score ModelEvaluator::score(const std::string& what, const BatchTransform& transform, bool tolerate_failures,
                            const Dataset* over) {
  Score s;
  s.seconds = for_each_batch(what, [&](const at::Tensor& x, const at::Tensor& y, int64_t first) {
    const int64_t len = x.size(0);
    at::Tensor input;
    guarded(what, first, len, [&] { input = transform(x, y, first); });
    at::Tensor logits;
    bool finite = false;
    const auto t0 = Clock::now();
    try {
      at::NoGradGuard no_grad;
      logits = fn_(input);
      finite = at::isfinite(logits).all().item<bool>();  // waits for the device: part of the pass's time
    } catch (const std::exception& e) {
      if (!tolerate_failures || out_of_memory(one_line(e))) throw;
    }
    s.forward_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    s.total += len;
    if (!finite) {
      if (!tolerate_failures)
        throw RunError(fmt::format("{}: produced NaN or infinite logits during {} (samples {}..{})",
                                   model_.path.string(), what, first, first + len - 1));
      ++s.failed_batches;
      return;
    }
    s.correct += logits.argmax(1).eq(y).sum().item<int64_t>();
  }, over);
  return s;
}

std::vector<double> ModelEvaluator::single_sample_latencies(int64_t count, int64_t& failed) {
  std::vector<double> ms;
  failed = 0;
  at::NoGradGuard no_grad;
  const int64_t n = data_->size();
  for (int64_t i = -1; i < count; ++i) {  // i = -1: the untimed first pass (TorchScript profiles it)
    const auto x = data_->inputs((i < 0 ? 0 : i) % n, 1).to(device_);
    const auto t0 = Clock::now();
    bool ok = true;
    try {
      // item() waits for the device, so on a GPU the time is the pass's, not its launch's.
      ok = at::isfinite(fn_(x)).all().item<bool>();
    } catch (const std::exception&) {
      ok = false;
    }
    if (i < 0) continue;
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    failed += ok ? 0 : 1;
  }
  return ms;
}

AttackScore ModelEvaluator::attack(const std::string& what, const AttackFn& run, const RecordContext* records) {
  AttackScore s;
  double zero_grad = 0;
  s.seconds = for_each_batch(what, [&](const at::Tensor& x, const at::Tensor& y, int64_t first) {
    const int64_t len = x.size(0);
    attacks::AttackResult r;
    at::Tensor clean_pred;
    guarded(what, first, len, [&] {
      {
        at::NoGradGuard no_grad;
        clean_pred = fn_(x).argmax(1);
      }
      r = run(x, y, first);
    });
    const auto robust = clean_pred.eq(y).logical_and(r.fooled.logical_not());
    s.correct += robust.sum().item<int64_t>();
    s.total += len;
    if (r.last_fooled.defined()) {
      s.last_correct += r.last_fooled.logical_not().sum().item<int64_t>();
      s.has_last = true;
    }
    if (r.target_hit.defined()) s.target_hits += r.target_hit.sum().item<int64_t>();
    zero_grad += r.zero_grad_fraction * static_cast<double>(len);
    if (records) append_records(*records, first, x, y, clean_pred, r, s.records);
  });
  const int64_t n = data_->size();
  s.zero_grad_fraction = n ? zero_grad / static_cast<double>(n) : 0.0;
  return s;
}

// One JSON line per sample: what a user needs to look at an individual adversarial example.
void ModelEvaluator::append_records(const RecordContext& ctx, int64_t first, const at::Tensor& x, const at::Tensor& y,
                           const at::Tensor& clean_pred, const attacks::AttackResult& r, std::string& out) const {
  const auto delta = (r.adversarial - x).flatten(1).to(at::kCPU, at::kDouble);
  const auto linf = delta.abs().amax(1), l2 = delta.norm(2, 1);
  const auto yc = y.cpu(), cp = clean_pred.cpu(), ap = r.adv_pred.cpu(), ff = r.first_fooled.cpu();
  const auto lp = r.last_pred.defined() ? r.last_pred.cpu() : at::Tensor();
  for (int64_t i = 0; i < x.size(0); ++i) {
    nlohmann::ordered_json line{{"model", ctx.model}, {"attack", ctx.attack}, {"epsilon", ctx.epsilon},
                                {"index", data_->file_index(first + i)}, {"label", yc[i].item<int64_t>()},
                                {"cleanPrediction", cp[i].item<int64_t>()},
                                {"adversarialPrediction", ap[i].item<int64_t>()},
                                {"linf", linf[i].item<double>()}, {"l2", l2[i].item<double>()}};
    const int64_t f = ff[i].item<int64_t>();
    line["firstFooledIteration"] = f >= 0 ? nlohmann::ordered_json(f) : nlohmann::ordered_json();
    if (lp.defined()) line["lastIteratePrediction"] = lp[i].item<int64_t>();
    out += line.dump();
    out += '\n';
  }
}

}  // namespace modelgate::engine
