#pragma once
// Which globals a model's pickles may name. A tensor archive needs only a short list (tensor
// and storage rebuilders, OrderedDict, TorchScript's own classes); everything else is a
// finding, critical for the modules that run code, touch files or reach the network (after
// modelscan's and picklescan's lists).
#include "engine/severity.h"

#include <optional>
#include <string>

namespace modelgate::engine::scan {

/// Why a global is not allowed, and how bad it is.
struct GlobalVerdict {
  Severity severity;
  std::string reason;
};

/// nullopt when `module`.`name` is one a tensor archive needs; otherwise its severity and why.
std::optional<GlobalVerdict> classify_global(const std::string& module, const std::string& name);

}  // namespace modelgate::engine::scan
