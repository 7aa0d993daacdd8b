#pragma once
// ValidationJob's spec.dataset and spec.models[i] readers.
#include "engine/config.h"
#include "engine/config_fields.h"
#include "engine/data/spec.h"

namespace modelgate::engine::fields {

/// spec.dataset into job.dataset: path, format, layout, labels, labelsPath, resize, centerCrop,
/// channels, onError, limit, sample; and job.batch_size / batch_auto / memory_budget from
/// batchSize (a number or auto) and memoryBudget.
void read_dataset(const Doc& d, const YAML::Node& ds, const fs::path& base, JobConfig& job);

/// spec.models[i]: name, path, key, normalize {mean, std}, inputShape.
ModelEntry read_model_entry(const Doc& d, const YAML::Node& m, const std::string& field, const fs::path& base);

}  // namespace modelgate::engine::fields
