#pragma once
// Evaluation of one model over a dataset, batch by batch: clean or corrupted scoring, and
// attacks with per-sample bookkeeping. engine/evaluate_model.cpp turns the scores into results.
#include "attacks/pgd.h"
#include "engine/dataset.h"
#include "engine/results.h"
#include "engine/model.h"
#include "engine/progress.h"

#include <functional>
#include <string>
#include <vector>

namespace modelgate::engine {

/// Transforms a batch (inputs, labels, dataset index of the first sample) before scoring.
using BatchTransform = std::function<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t)>;

/// Correct predictions over the dataset.
struct Score {
  int64_t correct = 0;
  int64_t total = 0;
  double seconds = 0;
  std::vector<double> forward_ms;  ///< each batch's forward pass, in milliseconds
  int64_t failed_batches = 0;      ///< with failures tolerated: batches with non-finite logits or an error
  double accuracy() const { return total ? static_cast<double>(correct) / total : 0.0; }
};

/// An attack's counts over the dataset.
struct AttackScore {
  int64_t correct = 0;       // correct clean and at every evaluated iterate
  int64_t total = 0;
  int64_t last_correct = 0;  // correct at the last iterate (meaningful when has_last)
  bool has_last = false;     // the attack kept its last iterate (no active set)
  int64_t target_hits = 0;
  double zero_grad_fraction = 0;
  double seconds = 0;
  std::string records;       // JSON Lines, when asked for
  double accuracy() const { return total ? static_cast<double>(correct) / total : 0.0; }
};

/// Attacks one batch (inputs, labels, dataset index of the first sample).
using AttackFn = std::function<attacks::AttackResult(const at::Tensor&, const at::Tensor&, int64_t)>;

/// What each per-sample record line names.
struct RecordContext {
  std::string model, attack;
  double epsilon;
};

/// Whether an error message is an allocator's out-of-memory report (CUDA's "out of memory", the
/// CPU allocator's "not enough memory", std::bad_alloc).
bool out_of_memory(const std::string& what);

/// Runs evaluations of one loaded model over a dataset on one device.
class ModelEvaluator {
 public:
  ModelEvaluator(LoadedModel& model, const Dataset& data, c10::Device device, int64_t batch_size,
                 Progress progress);

  /// The model as a differentiable callable (forward() returning logits).
  const attacks::ModelFn& fn() const { return fn_; }

  /// Scores the model on transform(batch) for every batch; `what` names the evaluation in
  /// progress lines and errors. Throws RunError on a failure or non-finite logits, unless
  /// `tolerate_failures`: then such a batch counts as failed and its samples as incorrect.
  /// `over`: another dataset's batches (a stored corruption's) instead of this evaluator's.
  Score score(const std::string& what, const BatchTransform& transform, bool tolerate_failures = false,
              const Dataset* over = nullptr);

  /// Times `count` batch-1 forward passes (no gradient) over the dataset's first samples, in
  /// milliseconds, after one untimed pass; a pass that fails or returns non-finite logits is
  /// counted in `failed`.
  std::vector<double> single_sample_latencies(int64_t count, int64_t& failed);

  /// Called at every batch boundary with the seconds the evaluation has taken so far; it may
  /// throw (StopRequested) to stop the evaluation there. Empty: never stops.
  void set_stop_check(std::function<void(double)> check) { stop_check_ = std::move(check); }

  /// Attacks every batch. A sample counts as robust only if it is classified correctly clean
  /// and at every evaluated iterate; the last-iterate count is kept when the attack reports it.
  /// With `records`, one JSON line per sample is collected in the result.
  AttackScore attack(const std::string& what, const AttackFn& run, const RecordContext* records);

  /// Batches that ran out of memory and were halved and run again. After one, every later
  /// batch of this evaluator runs at most at the halved size.
  const std::vector<BatchRetry>& batch_retries() const { return retries_; }

 private:
  /// Calls `body` on every batch (inputs and labels on the device, dataset index of the first
  /// sample), asking the stop check before each and ticking progress after each; returns the
  /// seconds it took.
  double for_each_batch(const std::string& what,
                        const std::function<void(const at::Tensor&, const at::Tensor&, int64_t)>& body,
                        const Dataset* over = nullptr);
  /// Runs `step` for samples first..first+len−1; any failure but invalid input becomes a
  /// RunError naming the model, the evaluation and the samples.
  void guarded(const std::string& what, int64_t first, int64_t len, const std::function<void()>& step) const;

  void append_records(const RecordContext& ctx, int64_t first, const at::Tensor& x, const at::Tensor& y,
                      const at::Tensor& clean_pred, const attacks::AttackResult& r, std::string& out) const;
  /// body(x, y, first) in pieces of at most limit_ samples; a piece that runs out of memory is
  /// halved and run again (down to one sample), and limit_ halves with it.
  void run_within_memory(const std::string& what, const at::Tensor& x, const at::Tensor& y, int64_t first,
                         const std::function<void(const at::Tensor&, const at::Tensor&, int64_t)>& body);

  LoadedModel& model_;
  const Dataset* data_;
  c10::Device device_;
  int64_t batch_size_;
  int64_t limit_;                    ///< the largest piece that has not run out of memory
  int64_t fault_oom_above_ = 0;      ///< MODELGATE_FAULT_OOM_ABOVE: pieces larger fail as out of memory (tests)
  std::vector<BatchRetry> retries_;
  Progress progress_;
  std::function<void(double)> stop_check_;
  attacks::ModelFn fn_;
};

}  // namespace modelgate::engine
