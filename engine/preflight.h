#pragma once
// Everything the user gave is loaded and checked against everything else before any evaluation,
// so that a bad file fails fast with exit 3 and nothing is written.
#include "engine/config.h"
#include "engine/dataset.h"
#include "engine/model.h"

namespace modelgate::engine {

/// What the first forward pass showed about a model.
struct ModelChecks {
  int64_t classes = 0;               ///< logits per sample
  bool probability_outputs = false;  ///< rows are non-negative and sum to 1: softmax, not logits
  double sample_seconds = 0;         ///< a forward and a backward over one sample (the faster of two timed batches)
  int64_t sample_bytes = 0;          ///< memory of one sample's forward and backward (batchSize: auto only)
  int64_t batch_size = 0;            ///< the batch size to evaluate with: the job's, or the auto choice
};

/// The memory budget of batchSize: auto: the job's, else half of the memory the system has
/// available (MemAvailable) on the CPU, or 80% of the device's free memory on a GPU.
uint64_t batch_memory_budget(const JobConfig& job, const c10::Device& device);

/// Runs `model` on the first samples of `data` and checks that it accepts them, returns finite
/// N×K logits (finiteness is left to the error rate when the job has InferenceMonitoring), that every label is one of its K classes and that every targeted attack aims at
/// one of them, and times a forward and a backward on a small batch for the estimate of the
/// job's work (engine/work_estimate.h). Throws InputError (or RunError for non-finite logits)
/// naming the files.
ModelChecks check_model_against_data(LoadedModel& model, const Dataset& data, const JobConfig& job,
                                     const c10::Device& device);

}  // namespace modelgate::engine
